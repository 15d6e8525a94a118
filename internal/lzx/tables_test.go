package lzx

import "testing"

// TestTables checks the literal tables against the formulas of the format.
func TestTables(t *testing.T) {
	for i := range maxPositionSlots {
		want := uint8(0)
		switch {
		case i >= 36:
			want = 17
		case i >= 4:
			want = uint8(i/2 - 1)
		}
		if extraBits[i] != want {
			t.Errorf("extraBits[%d] = %d, want %d", i, extraBits[i], want)
		}
		if i > 0 {
			if want := positionBase[i-1] + 1<<extraBits[i-1]; positionBase[i] != want {
				t.Errorf("positionBase[%d] = %d, want %d", i, positionBase[i], want)
			}
		}
	}
	for w := minWindowBits; w <= maxWindowBits; w++ {
		// The slot count is the first slot whose base reaches the window size.
		n := 0
		for n < maxPositionSlots && positionBase[n] < 1<<w {
			n++
		}
		if got := positionSlots(w); got != n {
			t.Errorf("positionSlots(%d) = %d, want %d", w, got, n)
		}
		// The largest formatted offset of the last slot fits the window.
		last := positionSlots(w) - 1
		if top := positionBase[last] + 1<<extraBits[last] - 1; top-2 >= 1<<w {
			t.Errorf("window 2^%d: largest offset %d does not fit", w, top-2)
		}
	}
}
