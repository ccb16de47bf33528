pragma circom 2.1.0;

include "circomlib/circuits/comparators.circom";

// ONNX Clip with constant bounds: out = min(max(in, LO), HI).
// below = (in < LO) and above = (HI < in) come from circomlib's LessThan(BITS), which is exact
// when the two operands differ by less than 2^BITS (the compiler picks BITS from the proven input
// range). A side the compiler proved can never bind is skipped (CHECK_LO / CHECK_HI = 0).
// out = in + below * (LO - in) + above * (HI - in). Cost per element and side: BITS + 2.
template Clip(N, LO, HI, BITS, CHECK_LO, CHECK_HI) {
    assert(N >= 1);
    assert(LO <= HI);
    assert(BITS >= 1 && BITS <= 250);
    assert(CHECK_LO == 0 || CHECK_LO == 1);
    assert(CHECK_HI == 0 || CHECK_HI == 1);
    signal input in[N];
    signal output out[N];
    signal lowFix[N];
    signal highFix[N];
    component below[N];
    component above[N];
    for (var i = 0; i < N; i++) {
        if (CHECK_LO == 1) {
            below[i] = LessThan(BITS);
            below[i].in[0] <== in[i];
            below[i].in[1] <== LO;
            lowFix[i] <== below[i].out * (LO - in[i]);
        } else {
            lowFix[i] <== 0;
        }
        if (CHECK_HI == 1) {
            above[i] = LessThan(BITS);
            above[i].in[0] <== HI;
            above[i].in[1] <== in[i];
            highFix[i] <== above[i].out * (HI - in[i]);
        } else {
            highFix[i] <== 0;
        }
        out[i] <== in[i] + lowFix[i] + highFix[i];
    }
}
