pragma circom 2.1.0;

// ONNX Mul with a constant operand: out[i] = in[i] * C[i]. Linear, no constraint after --O2.
template MulConst(N, C) {
    assert(N >= 1);
    signal input in[N];
    signal output out[N];
    for (var i = 0; i < N; i++) {
        out[i] <== in[i] * C[i];
    }
}
