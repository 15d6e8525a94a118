package catalog

import (
	"context"
	"io"
)

// readAhead decodes src in its own goroutine, up to depth chunks of chunkSize bytes
// ahead of the reader, so that decompressing package.xml and tokenizing it run on two
// cores. Close stops the goroutine; it must be called.
type readAhead struct {
	chunks chan []byte // filled chunks, in order
	free   chan []byte // emptied chunks, back to the producer
	done   chan struct{}
	err    error  // the producer's final error, valid once chunks is closed
	cur    []byte // the chunk being read, whole
	off    int    // bytes of cur already read
}

func newReadAhead(ctx context.Context, src io.Reader, chunkSize, depth int) *readAhead {
	ra := &readAhead{chunks: make(chan []byte, depth), free: make(chan []byte, depth+1), done: make(chan struct{})}
	for i := 0; i < depth+1; i++ {
		ra.free <- make([]byte, chunkSize)
	}
	go func() {
		defer close(ra.chunks)
		for {
			var buf []byte
			select {
			case buf = <-ra.free:
			case <-ra.done:
				return
			case <-ctx.Done():
				ra.err = context.Cause(ctx)
				return
			}
			n, err := io.ReadFull(src, buf[:cap(buf)])
			if n > 0 {
				select {
				case ra.chunks <- buf[:n]:
				case <-ra.done:
					return
				}
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return
			}
			if err != nil {
				ra.err = err
				return
			}
		}
	}()
	return ra
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for ra.off == len(ra.cur) {
		if ra.cur != nil {
			ra.free <- ra.cur
			ra.cur = nil
		}
		c, ok := <-ra.chunks
		if !ok {
			if ra.err != nil {
				return 0, ra.err
			}
			return 0, io.EOF
		}
		ra.cur, ra.off = c, 0
	}
	n := copy(p, ra.cur[ra.off:])
	ra.off += n
	return n, nil
}

// Close stops the producer; Read must not be called afterwards.
func (ra *readAhead) Close() {
	close(ra.done)
	for range ra.chunks {
	}
}
