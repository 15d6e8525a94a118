package catalog

import (
	"io"

	"github.com/openwua/waptwua/internal/cab"
)

// newLZXSink writes real cabinets: LZX folders, spooled to temporary files by cab.Writer.
func newLZXSink(w io.Writer, headerReserve int, tmp string) cabSink {
	return cab.NewWriter(w, cab.WriterOptions{HeaderReserve: headerReserve, TempDir: tmp})
}
