pragma circom 2.1.0;

include "circomlib/circuits/bitify.circom";

// The model input as public signals: the tensor's canonical int8 data bytes (two's complement,
// in tensor order) packed big-endian, 31 bytes per field element: word w is the big-endian
// integer of bytes [31w, 31w + len), so Solidity rebuilds it from calldata with one load and a
// shift: uint256(bytes32(data[31w:])) >> (8 * (32 - len)). Decomposing each word into exactly 8*len bits both range-checks every element to
// int8 and binds the words to the bytes, so the verifier side can rebuild the public signals
// from the canonical tensor (see docs/ZK.md). Cost: 8 constraints per element, +1 per word.
template UnpackInt8(N) {
    assert(N >= 1);
    var WORDS = (N + 30) \ 31;
    signal input words[WORDS];
    signal output out[N];
    component bits[WORDS];
    for (var w = 0; w < WORDS; w++) {
        var len = (w == WORDS - 1) ? N - 31 * w : 31;
        bits[w] = Num2Bits(8 * len);
        bits[w].in <== words[w];
        for (var j = 0; j < len; j++) {
            var v = 0;
            for (var b = 0; b < 7; b++) {
                v += bits[w].out[8 * (len - 1 - j) + b] * (1 << b);
            }
            // two's complement: the top bit weighs -128
            out[31 * w + j] <== v - 128 * bits[w].out[8 * (len - 1 - j) + 7];
        }
    }
}
