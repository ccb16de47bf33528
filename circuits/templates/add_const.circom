pragma circom 2.1.0;

// ONNX Add (and Sub, with the constant negated) with a constant operand: out[i] = in[i] + C[i].
template AddConst(N, C) {
    assert(N >= 1);
    signal input in[N];
    signal output out[N];
    for (var i = 0; i < N; i++) {
        out[i] <== in[i] + C[i];
    }
}
