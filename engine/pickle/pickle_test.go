package pickle

import (
	"math"
	"testing"
)

func TestDecodeLong(t *testing.T) {
	for _, c := range []struct {
		b    []byte
		want int64
	}{{nil, 0}, {[]byte{0xff}, -1}, {[]byte{0x00, 0x80}, -32768}, {[]byte{0xff, 0x00}, 255},
		{[]byte{0, 0, 0, 0, 0, 0, 0, 0x80}, math.MinInt64}, {[]byte{1, 0, 0, 0, 1}, 1<<32 + 1}} {
		got, err := decodeLong(c.b)
		if err != nil || got != c.want {
			t.Errorf("decodeLong(%x) = %d, %v; want %d", c.b, got, err, c.want)
		}
	}
	if _, err := decodeLong(make([]byte, 9)); err == nil {
		t.Error("a 9-byte integer was accepted")
	}
}
