pragma circom 2.1.0;

include "circomlib/circuits/bitify.circom";

// ONNX Relu on integers whose range the compiler proved to be [-2^(BITS-1), 2^(BITS-1)).
// in + 2^(BITS-1) is decomposed into BITS bits; the top bit is 1 exactly when in >= 0, and
// out = in * topBit. The decomposition is unique for in-range inputs, so out is determined.
// Cost: BITS + 1 constraints per element.
template Relu(N, BITS) {
    assert(N >= 1);
    assert(BITS >= 2 && BITS <= 252);
    signal input in[N];
    signal output out[N];
    component sign[N];
    for (var i = 0; i < N; i++) {
        sign[i] = Num2Bits(BITS);
        sign[i].in <== in[i] + (1 << (BITS - 1));
        out[i] <== in[i] * sign[i].out[BITS - 1];
    }
}
