pragma circom 2.1.0;

// ONNX MatMulInteger with a constant int8 B operand and no zero points:
// out[n] = sum_k in[k] * W[k][n]. Linear in the inputs, so it costs no constraint after --O2.
template MatMulIntegerConst(K, N, W) {
    assert(K >= 1 && N >= 1);
    signal input in[K];
    signal output out[N];
    for (var n = 0; n < N; n++) {
        var acc = 0;
        for (var k = 0; k < K; k++) {
            assert(W[k][n] >= -128 && W[k][n] <= 127);
            acc += W[k][n] * in[k];
        }
        out[n] <== acc;
    }
}
