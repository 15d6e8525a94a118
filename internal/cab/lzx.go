package cab

import (
	"fmt"

	"github.com/openwua/waptwua/internal/lzx"
)

// lzxDecoder adapts lzx.Decoder to frameDecoder.
type lzxDecoder struct{ d *lzx.Decoder }

func (l lzxDecoder) reset() { l.d.Reset() }

func (l lzxDecoder) decode(in []byte, outLen int) ([]byte, error) { return l.d.Decode(in, outLen) }

// newLZXDecoder returns the frame decoder of an LZX folder with a 2^windowBits window.
func newLZXDecoder(windowBits int) (frameDecoder, error) {
	d, err := lzx.NewDecoder(windowBits)
	if err != nil {
		return nil, fmt.Errorf("the folder's LZX window of 2^%d bytes is outside 2^15..2^21: %w (%w)", windowBits, ErrCorrupt, err)
	}
	return lzxDecoder{d}, nil
}
