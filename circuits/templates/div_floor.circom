pragma circom 2.1.0;

include "circomlib/circuits/bitify.circom";

// ONNX Div by the constant 2^SHIFT on integers the compiler proved non-negative (so ONNX's
// truncating division is floor division). The quotient and remainder are hints (<--), pinned
// by in === q * 2^SHIFT + r with 0 <= r < 2^SHIFT and 0 <= q < 2^QUOTIENT_BITS, both enforced
// by Num2Bits: with both ranges bounded far below the field size the decomposition is unique,
// so no other (q, r) satisfies the constraints. Cost: SHIFT + QUOTIENT_BITS + 1 per element.
template DivFloorPow2(N, SHIFT, QUOTIENT_BITS) {
    assert(N >= 1);
    assert(SHIFT >= 1 && QUOTIENT_BITS >= 1 && SHIFT + QUOTIENT_BITS <= 250);
    signal input in[N];
    signal output out[N];
    signal r[N];
    component remainderRange[N];
    component quotientRange[N];
    for (var i = 0; i < N; i++) {
        out[i] <-- in[i] \ (1 << SHIFT);
        r[i] <-- in[i] % (1 << SHIFT);
        in[i] === out[i] * (1 << SHIFT) + r[i];
        remainderRange[i] = Num2Bits(SHIFT);
        remainderRange[i].in <== r[i];
        quotientRange[i] = Num2Bits(QUOTIENT_BITS);
        quotientRange[i].in <== out[i];
    }
}
