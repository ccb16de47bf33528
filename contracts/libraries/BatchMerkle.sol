// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

// Assembly builds the batch root in place over the leaves array (no per-level allocation); measured in bench/gas.ts.
// solhint-disable no-inline-assembly

/// @notice Builds the Merkle roots of result batches (docs/PROTOCOL.md, "Result batches"): the root a
/// worker signs over its batch's items and the root of the items the oracle accepted. Nodes hash their
/// two children in sorted order, keccak256(min(a, b) || max(a, b)) (OpenZeppelin Hashes.commutativeKeccak256),
/// and an odd node at the end of a level moves up unchanged, so a proof is the list of siblings from the
/// leaf up, no index needed, and OpenZeppelin MerkleProof.processProof verifies it (the oracle uses it for
/// settle/challenge). OpenZeppelin has no in-memory root builder, hence this one. A batch of one has
/// root = leaf and an empty proof. Leaves are tagged 96- and 192-byte preimages (RequestBook.resultLeaf,
/// RequestBook.leaf) and nodes 64-byte ones, so a node can never pass for a leaf.
library BatchMerkle {
    /// @notice Root of `leaves[0:n]`; overwrites the array (it is scratch space).
    function root(bytes32[] memory leaves, uint256 n) internal pure returns (bytes32 r) {
        // Caller guarantees 1 <= n <= leaves.length, so every index below is in bounds: level by level,
        // node i of the next level is hashPair(node 2i, node 2i + 1), written over node i.
        assembly ("memory-safe") {
            let base := add(leaves, 32)
            for {} gt(n, 1) {} {
                let half := shr(1, n)
                for { let i := 0 } lt(i, half) { i := add(i, 1) } {
                    let src := add(base, shl(6, i))
                    let a := mload(src)
                    let b := mload(add(src, 32))
                    // Sorted without a branch: the larger child goes to the second scratch word.
                    let hi := shl(5, gt(a, b))
                    mstore(hi, a)
                    mstore(xor(hi, 0x20), b)
                    mstore(add(base, shl(5, i)), keccak256(0x00, 0x40))
                }
                if and(n, 1) {
                    mstore(add(base, shl(5, half)), mload(add(base, shl(5, sub(n, 1)))))
                    half := add(half, 1)
                }
                n := half
            }
            r := mload(base)
        }
    }
}
