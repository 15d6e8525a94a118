package catalog

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestReadAhead(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 10000)
	ra := newReadAhead(context.Background(), iotest.HalfReader(bytes.NewReader(data)), 1000, 3)
	got, err := io.ReadAll(iotest.OneByteReader(ra))
	ra.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, err %v", len(got), err)
	}
	boom := errors.New("boom")
	ra = newReadAhead(context.Background(), io.MultiReader(bytes.NewReader(data[:5000]), iotest.ErrReader(boom)), 1000, 2)
	if _, err := io.ReadAll(ra); !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
	ra.Close()
	// Closing early stops the producer.
	ra = newReadAhead(context.Background(), bytes.NewReader(data), 100, 2)
	ra.Read(make([]byte, 10))
	ra.Close()
}
