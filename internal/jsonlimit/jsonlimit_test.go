package jsonlimit

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"
)

// huge lets every limit through, to compare the syntax check with encoding/json.
var huge = Limits{MaxBytes: 1 << 30, MaxDepth: 1 << 20, MaxArrayLen: 1 << 30, MaxValues: 1 << 30,
	MaxStringLen: 1 << 30, MaxNumberLen: 1 << 30, MaxObjectKeys: 1 << 30}

func TestCheckSyntax(t *testing.T) {
	docs := []string{
		`0`, `-0`, `-0.5e+10`, `1E5`, `12.25`, `true`, `false`, `null`, `""`, `"a\"\\\/\b\f\n\r\t\u00e9"`,
		`[]`, `{}`, ` [ 1 , 2 , [ ] , { } ] `, `{"a":1,"b":[true,{"c":null}]}`, "\t\n{\"x\" : \"y\"}\r\n",
		`[1,2]`, `[1 ]`, `{"a":1 }`, `"é€😀"`, `{"":0}`,
		// invalid
		``, ` `, `[`, `]`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[,1]`, `01`, `-`, `1.`, `.5`, `1e`, `1e+`,
		`+1`, `tru`, `nul`, `falsey`, `"abc`, `"\x"`, `"\u12g4"`, "\"a\tb\"", `{1:2}`, `[1 2]`, `1 2`, `{}{}`,
		`[1]x`, `"a" "b"`, `{"a":1 "b":2}`, `[0x10]`, `NaN`, `[-]`, `{"a" 1}`, `[1,2}`, `{"a":1]`,
	}
	for _, d := range docs {
		err := Check([]byte(d), huge)
		if got, want := err == nil, json.Valid([]byte(d)); got != want {
			t.Errorf("Check(%q) = %v; encoding/json says valid=%v", d, err, want)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Limit != LimitSyntax {
				t.Errorf("Check(%q) = %#v, want a syntax *Error", d, err)
			}
		}
	}
}

func TestLimits(t *testing.T) {
	tests := []struct {
		desc    string
		doc     string
		l       Limits
		limit   string // "" = accepted
		message string
	}{
		{"array at limit", `{"updates":[0,0,0]}`, Limits{MaxArrayLen: 3}, "", ""},
		{"array over limit", `{"updates":[0,0,0,0]}`, Limits{MaxArrayLen: 3}, LimitArray, "array longer than 3 elements at $.updates"},
		{"array path limit", `{"updates":[0,0,0,0],"kbs":[1,2]}`, Limits{MaxArrayLen: 1, ArrayLen: map[string]int{"$.updates": 4}}, LimitArray, "array longer than 1 elements at $.kbs"},
		{"nested array path limit", `{"u":[{"kbs":[1,2,3]}]}`, Limits{ArrayLen: map[string]int{"$.u[*].kbs": 2}}, LimitArray, "array longer than 2 elements at $.u[0].kbs"},
		{"depth at limit", `[[[1]]]`, Limits{MaxDepth: 3}, "", ""},
		{"depth over limit", `{"a":[[[1]]]}`, Limits{MaxDepth: 3}, LimitDepth, "nested deeper than 3 levels at $.a[0][0]"},
		{"string at limit", `["abcd"]`, Limits{MaxStringLen: 4}, "", ""},
		{"string over limit", `[1,"abcde"]`, Limits{MaxStringLen: 4}, LimitString, "string longer than 4 bytes at $[1]"},
		{"escapes count", `["\u0041\u0042"]`, Limits{MaxStringLen: 8}, LimitString, "string longer than 8 bytes at $[0]"},
		{"key over limit", `{"abcde":1}`, Limits{MaxStringLen: 4}, LimitString, "object key longer than 4 bytes at $"},
		{"number over limit", `{"n":123456}`, Limits{MaxNumberLen: 5}, LimitNumber, "number longer than 5 bytes at $.n"},
		{"keys at limit", `{"a":1,"b":2}`, Limits{MaxObjectKeys: 2}, "", ""},
		{"keys over limit", `{"o":{"a":1,"b":2,"c":3}}`, Limits{MaxObjectKeys: 2}, LimitKeys, "object with more than 2 keys at $.o.b"},
		{"duplicate key", `{"a":1,"b":{"x":1,"x":2}}`, Limits{}, LimitDuplicate, `duplicate key "x" at $.b.x`},
		{"duplicate key by escape", `{"a":1,"\u0061":2}`, Limits{}, LimitDuplicate, `duplicate key "a" at $.a`},
		{"case variants allowed", `{"a":1,"A":2}`, Limits{}, "", ""},
		{"case variants refused", `{"Status":1,"status":2}`, Limits{FoldedKeys: true}, LimitDuplicate, `duplicate key "status" (keys differing only in case count as one) at $.status`},
		{"case variants by Unicode folding", "{\"status\":1,\"\u017ftatus\":2}", Limits{FoldedKeys: true}, LimitDuplicate, "duplicate key \"\u017ftatus\" (keys differing only in case count as one) at $[\"\u017ftatus\"]"},
		{"same key in sibling objects", `[{"a":1},{"a":2}]`, Limits{}, "", ""},
		{"values", `[1,[2,3]]`, Limits{MaxValues: 4}, LimitValues, "more than 4 values in the document at $[1][1]"},
		{"bytes", `[1,2,3]`, Limits{MaxBytes: 6}, LimitBytes, "document larger than 6 bytes"},
		{"bytes exact", `[1,2,3]`, Limits{MaxBytes: 7}, "", ""},
		{"odd key in path", `{"a b":[1,"xxxxx"]}`, Limits{MaxStringLen: 3}, LimitString, `string longer than 3 bytes at $["a b"][1]`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			for _, via := range []string{"Check", "Read"} {
				var err error
				if via == "Check" {
					err = Check([]byte(tt.doc), tt.l)
				} else {
					_, err = Read(iotestOneByte(tt.doc), tt.l)
				}
				if tt.limit == "" {
					if err != nil {
						t.Errorf("%s: %v", via, err)
					}
					continue
				}
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("%s: error %v, want *Error", via, err)
				}
				if e.Limit != tt.limit || e.Error() != tt.message {
					t.Errorf("%s: got limit %q %q, want %q %q", via, e.Limit, e.Error(), tt.limit, tt.message)
				}
			}
		})
	}
}

// iotestOneByte reads s one byte per Read call: the scanner must not depend on chunking.
func iotestOneByte(s string) io.Reader { return &oneByte{s: s} }

type oneByte struct{ s string }

func (o *oneByte) Read(p []byte) (int, error) {
	if o.s == "" {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = o.s[0]
	o.s = o.s[1:]
	return 1, nil
}

type report struct {
	Host    string `json:"host"`
	Updates []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	} `json:"updates"`
}

func TestDecode(t *testing.T) {
	var r report
	if err := Decode(strings.NewReader(`{"host":"h1","updates":[{"id":"u1","status":"INSTALLED"}]}`), &r, Limits{}); err != nil {
		t.Fatal(err)
	}
	if r.Host != "h1" || len(r.Updates) != 1 || r.Updates[0].Status != "INSTALLED" {
		t.Errorf("decoded %+v", r)
	}
	err := Decode(strings.NewReader(`{"host":"h1","extra":1}`), &r, Limits{})
	var e *Error
	if !errors.As(err, &e) || e.Limit != LimitType || !strings.Contains(err.Error(), `unknown field "extra"`) {
		t.Errorf("unknown field: %v", err)
	}
	if err := Decode(strings.NewReader(`{"host":"h1","extra":1}`), &r, Limits{AllowUnknownFields: true}); err != nil {
		t.Errorf("AllowUnknownFields: %v", err)
	}
	err = Decode(strings.NewReader(`{"host":5}`), &r, Limits{})
	if !errors.As(err, &e) || e.Limit != LimitType || e.Error() != "want string, got JSON number at $.host" {
		t.Errorf("type error: %v", err)
	}
	err = Unmarshal([]byte(`{"host":"a","host":"b"}`), &r, Limits{})
	if !errors.As(err, &e) || e.Limit != LimitDuplicate {
		t.Errorf("Unmarshal duplicate: %v", err)
	}
	if err := Unmarshal([]byte(`{"host":"a"}`), &r, Limits{}); err != nil || r.Host != "a" {
		t.Errorf("Unmarshal: %v %+v", err, r)
	}
	// A failing reader's error comes through.
	boom := errors.New("connection reset")
	err = Decode(io.MultiReader(strings.NewReader(`{"host":`), errReader{boom}), &r, Limits{})
	if !errors.Is(err, boom) {
		t.Errorf("read error: %v", err)
	}
	if !TooLarge(Check(make([]byte, 10), Limits{MaxBytes: 5})) || TooLarge(Check([]byte("["), Limits{})) {
		t.Error("TooLarge")
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// heapAllocs is the cumulative count of bytes allocated on the heap.
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// measure runs f and returns the heap bytes it allocated and its duration.
func measure(f func()) (uint64, time.Duration) {
	runtime.GC()
	before := heapAllocs()
	start := time.Now()
	f()
	return heapAllocs() - before, time.Since(start)
}

// reportBody is the hostile report: {"updates":[0,0,…]} of size n.
func reportBody(n int) []byte {
	b := make([]byte, 0, n)
	b = append(b, `{"updates":[0`...)
	for len(b) < n-3 {
		b = append(b, ",0"...)
	}
	return append(b, "]}"...)
}

const (
	mib       = 1 << 20
	heapBound = 64 * mib
	timeBound = time.Second * raceSlowdown // generous: the real figure is logged
)

func TestHostileLongArray(t *testing.T) {
	body := reportBody(4 * mib)
	l := Limits{MaxBytes: 4 * mib, ArrayLen: map[string]int{"$.updates": 20000}}
	var errCheck, errDecode error
	var read countingReader
	allocCheck, durCheck := measure(func() { errCheck = Check(body, l) })
	allocDecode, durDecode := measure(func() {
		read = countingReader{r: bytes.NewReader(body)}
		var r report
		errDecode = Decode(&read, &r, l)
	})
	t.Logf("4 MiB body of %d elements: Check %v, %d bytes allocated; Decode %v, %d bytes allocated, %d bytes read",
		(len(body)-12)/2, durCheck, allocCheck, durDecode, allocDecode, read.n)
	for _, err := range []error{errCheck, errDecode} {
		if err == nil || err.Error() != "array longer than 20000 elements at $.updates" {
			t.Errorf("error %v", err)
		}
	}
	if allocCheck > heapBound || allocDecode > heapBound {
		t.Errorf("allocated %d and %d bytes, want < %d", allocCheck, allocDecode, heapBound)
	}
	if durCheck > timeBound || durDecode > timeBound {
		t.Errorf("took %v and %v, want < %v", durCheck, durDecode, timeBound)
	}
	if read.n > 1*mib {
		t.Errorf("Decode read %d bytes of the body before refusing it; want it to stop near the 20001st element", read.n)
	}
	// Under the limit the same shape decodes.
	ok := reportBody(40000)
	if err := Check(ok, l); err != nil {
		t.Errorf("19999 elements: %v", err)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestHostileShapes(t *testing.T) {
	l := Limits{MaxBytes: 8 * mib}
	manyKeys := func() []byte {
		var b bytes.Buffer
		b.WriteString("{")
		for i := 0; b.Len() < 4*mib; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"k`)
			b.WriteString(strings.Repeat("x", 3))
			b.WriteString(strconv.Itoa(i))
			b.WriteString(`":0`)
		}
		b.WriteString("}")
		return b.Bytes()
	}
	tests := []struct {
		desc  string
		body  []byte
		limit string
	}{
		{"unclosed nesting", bytes.Repeat([]byte("["), 4*mib), LimitDepth},
		{"unclosed object nesting", bytes.Repeat([]byte(`{"a":`), mib), LimitDepth},
		{"long string", append(append([]byte(`["`), bytes.Repeat([]byte("x"), 4*mib)...), `"]`...), LimitString},
		{"long key", append(append([]byte(`{"`), bytes.Repeat([]byte("x"), 4*mib)...), `":1}`...), LimitString},
		{"long number", append([]byte(`[1`), bytes.Repeat([]byte("0"), 4*mib)...), LimitNumber},
		{"many keys", manyKeys(), LimitKeys},
		{"duplicate keys", []byte(`{"a":1,"a":2}`), LimitDuplicate},
		{"too large", bytes.Repeat([]byte(" "), 8*mib+1), LimitBytes},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			var err error
			alloc, dur := measure(func() {
				var v any
				err = Decode(bytes.NewReader(tt.body), &v, l)
			})
			t.Logf("%d-byte body: %v, %d bytes allocated: %v", len(tt.body), dur, alloc, err)
			var e *Error
			if !errors.As(err, &e) || e.Limit != tt.limit {
				t.Fatalf("error %v, want limit %s", err, tt.limit)
			}
			if n := len(err.Error()); n > MaxErrorLen {
				t.Errorf("error message of %d bytes", n)
			}
			if alloc > heapBound || dur > timeBound {
				t.Errorf("%d bytes, %v: want < %d bytes and < %v", alloc, dur, heapBound, timeBound)
			}
		})
	}
}

func TestErrorCapped(t *testing.T) {
	// A deep path of long keys stays short in the message.
	var b strings.Builder
	for range 30 {
		b.WriteString(`{"` + strings.Repeat("k", 100) + `":`)
	}
	err := Check([]byte(b.String()+"[1,tru]"), Limits{})
	if err == nil {
		t.Fatal("accepted")
	}
	if n := len(err.Error()); n > MaxErrorLen {
		t.Errorf("message of %d bytes: %s", n, err)
	}
	if !strings.Contains(err.Error(), "more levels") || !strings.HasPrefix(err.Error(), `unexpected ']' in a literal`) {
		t.Errorf("message %q", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"updates":[0,0,0]}`, `[[[[`, `{"a":1,"a":2}`, `"\u00e9"`, `-1.5e+3`, `{"a":[{"b":null}]}`, `[1,]`, "\"\xff\""} {
		f.Add([]byte(s))
	}
	small := Limits{MaxBytes: 256, MaxDepth: 4, MaxArrayLen: 5, MaxValues: 30, MaxStringLen: 16, MaxNumberLen: 8, MaxObjectKeys: 4, FoldedKeys: true}
	f.Fuzz(func(t *testing.T, data []byte) {
		// With no limit in the way, the verdict is encoding/json's (duplicates aside).
		err := Check(data, huge)
		var e *Error
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("error of type %T", err)
		}
		dup := err != nil && e.Limit == LimitDuplicate
		if !dup && (err == nil) != json.Valid(data) {
			t.Fatalf("Check = %v, json.Valid = %v", err, json.Valid(data))
		}
		// Small limits: an *Error with a short message, and the same verdict from a stream.
		err = Check(data, small)
		_, rerr := Read(bytes.NewReader(data), small)
		if (err == nil) != (rerr == nil) {
			t.Fatalf("Check %v, Read %v", err, rerr)
		}
		if err != nil {
			if !errors.As(err, &e) || len(err.Error()) > MaxErrorLen {
				t.Fatalf("error %v", err)
			}
			return
		}
		// A checked document decodes, or does not fit the Go value (1e700 in a float64).
		var v any
		if err := Unmarshal(data, &v, small); err != nil && (!errors.As(err, &e) || e.Limit != LimitType) {
			t.Fatalf("checked document does not decode: %v", err)
		}
	})
}

func BenchmarkHostile(b *testing.B) {
	shapes := []struct {
		name string
		body []byte
	}{
		{"long-array", reportBody(4 * mib)},
		{"deep-nesting", bytes.Repeat([]byte("["), 4*mib)},
		{"long-string", append([]byte(`["`), bytes.Repeat([]byte("x"), 4*mib)...)},
		{"many-keys", func() []byte {
			var bb bytes.Buffer
			bb.WriteString("{")
			for i := 0; bb.Len() < 4*mib; i++ {
				if i > 0 {
					bb.WriteByte(',')
				}
				bb.WriteString(`"k` + strconv.Itoa(i) + `":0`)
			}
			return append(bb.Bytes(), '}')
		}()},
	}
	l := Limits{MaxBytes: 8 * mib, ArrayLen: map[string]int{"$.updates": 20000}}
	for _, s := range shapes {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var v any
				if err := Decode(bytes.NewReader(s.body), &v, l); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}
