// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IStepVerifier} from "../interfaces/IStepVerifier.sol";

/// @notice Test-only: many StepVerifier calls on one step in one eth_call (test/canonical/step-verifier.golden.test.ts),
/// with the most gas any one call of each function took (measured around the external call).
contract StepVerifierHarness {
    IStepVerifier public immutable verifier;

    struct Element {
        uint64 e;
        /// map/move: the values of reads(e); reduce: the values of initReads(e)
        uint64[] values;
        /// reduce: the record after all K terms
        bytes32 last;
    }

    struct Term {
        uint64 e;
        uint64 t;
        bytes32 prev;
        uint64[] values;
    }

    struct Out {
        bytes header;
        uint64 numel;
        uint64 terms;
        /// per element: reads (map/move) or initReads (reduce)
        IStepVerifier.Read[][] reads;
        /// map/move: elementValue; reduce: finalize
        uint64[] values;
        /// reduce: initRecord
        bytes32[] inits;
        IStepVerifier.Read[][] termReads;
        bytes32[] folds;
        /// the most gas of one call: reads/initReads, elementValue/finalize, initRecord, termReads, foldTerm
        uint256[5] gas;
        /// gas of the info call and of the outputHeader call (measured around each external call: the
        /// transaction's calldata, which carries the step once, is not in them)
        uint256[2] headGas;
    }

    constructor(IStepVerifier v) {
        verifier = v;
    }

    function run(bytes calldata step, uint8 precision, Element[] calldata elems, Term[] calldata terms)
        external
        view
        returns (Out memory o)
    {
        uint256 g = gasleft();
        IStepVerifier.StepInfo memory info = verifier.info(step);
        o.headGas[0] = g - gasleft();
        g = gasleft();
        o.header = verifier.outputHeader(step);
        o.headGas[1] = g - gasleft();
        o.numel = info.numel;
        o.terms = info.terms;
        bool reduce = info.kind == 2;
        o.reads = new IStepVerifier.Read[][](elems.length);
        o.values = new uint64[](elems.length);
        o.inits = new bytes32[](reduce ? elems.length : 0);
        for (uint256 i = 0; i < elems.length; ++i) element(o, step, precision, elems[i], i, reduce);
        o.termReads = new IStepVerifier.Read[][](terms.length);
        o.folds = new bytes32[](terms.length);
        for (uint256 i = 0; i < terms.length; ++i) term(o, step, precision, terms[i], i);
    }

    function element(Out memory o, bytes calldata step, uint8 precision, Element calldata el, uint256 i, bool reduce)
        private
        view
    {
        uint256 g = gasleft();
        o.reads[i] = reduce ? verifier.initReads(step, el.e) : verifier.reads(step, el.e);
        o.gas[0] = max(o.gas[0], g - gasleft());
        g = gasleft();
        if (reduce) o.values[i] = verifier.finalize(step, el.last, precision);
        else o.values[i] = verifier.elementValue(step, el.e, el.values, precision);
        o.gas[1] = max(o.gas[1], g - gasleft());
        if (reduce) {
            g = gasleft();
            o.inits[i] = verifier.initRecord(step, el.e, el.values);
            o.gas[2] = max(o.gas[2], g - gasleft());
        }
    }

    function term(Out memory o, bytes calldata step, uint8 precision, Term calldata tm, uint256 i) private view {
        uint256 g = gasleft();
        o.termReads[i] = verifier.termReads(step, tm.e, tm.t);
        o.gas[3] = max(o.gas[3], g - gasleft());
        g = gasleft();
        o.folds[i] = verifier.foldTerm(step, tm.e, tm.t, tm.prev, tm.values, precision);
        o.gas[4] = max(o.gas[4], g - gasleft());
    }

    function max(uint256 a, uint256 b) private pure returns (uint256) {
        return a > b ? a : b;
    }
}
