package cab

import "sync"

// DecoderPool keeps the decoding state of finished walks (LZX windows, the MSZIP
// history, the read buffer) for the next ones, so that a program reading many
// cabinets one after the other, such as the ~75 inner cabinets of wsusscn2.cab, does
// not allocate and fault in a fresh 2 MiB LZX window per cabinet. It is safe for
// concurrent use: each Walk takes one set of decoders for its duration and gives it
// back when it returns, so a pool holds at most as many sets as walks ran at once.
// The zero value is ready to use.
type DecoderPool struct {
	mu   sync.Mutex
	free []*walkState
}

// NewDecoderPool returns an empty pool.
func NewDecoderPool() *DecoderPool { return &DecoderPool{} }

// WithDecoderPool makes Walk take its decoders and read buffer from p and return
// them to p afterwards. Readers from Open and OpenFile, whose lifetime Walk does not
// bound, keep allocating their own.
func WithDecoderPool(p *DecoderPool) Option {
	return func(o *options) { o.pool = p }
}

// walkState is what one Walk allocates: its frame decoders and its read buffer.
type walkState struct {
	decs decoders
	buf  []byte
}

func (p *DecoderPool) get() *walkState {
	if p == nil {
		return &walkState{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		ws := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		return ws
	}
	return &walkState{}
}

func (p *DecoderPool) put(ws *walkState) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.free = append(p.free, ws)
	p.mu.Unlock()
}
