pragma circom 2.1.0;

include "circomlib/circuits/bitify.circom";

// The model output as public signals, packed exactly as UnpackInt8 packs the input (31 bytes
// per word, big-endian).
// Each element is range-checked to int8 (Num2Bits(8) of in + 128, whose top bit is 1 exactly when
// in >= 0), then written as its two's complement byte: in + 256 * (1 - topBit).
// Cost: 8 constraints per element.
template PackInt8(N) {
    assert(N >= 1);
    var WORDS = (N + 30) \ 31;
    signal input in[N];
    signal output words[WORDS];
    component bits[N];
    for (var i = 0; i < N; i++) {
        bits[i] = Num2Bits(8);
        bits[i].in <== in[i] + 128;
    }
    for (var w = 0; w < WORDS; w++) {
        var len = (w == WORDS - 1) ? N - 31 * w : 31;
        var acc = 0;
        for (var j = 0; j < len; j++) {
            var i = 31 * w + j;
            acc += (in[i] + 256 - 256 * bits[i].out[7]) * (1 << (8 * (len - 1 - j)));
        }
        words[w] <== acc;
    }
}
