package server

import (
	"bytes"
	"compress/gzip"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/openwua/waptwua/internal/api"
	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/jsonlimit"
)

// readBody reads a request body of at most limit bytes (after gzip decoding, when the
// client sent Content-Encoding: gzip). A larger body is a 413 whose message is tooLarge.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, tooLarge string) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, limit)
	var rd io.Reader = body
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		// The limit applies to the decompressed bytes, counted while reading: a small
		// body that inflates past it (a gzip bomb) is refused without being inflated.
		tooLarge += " (the limit counts the bytes after gzip decompression)"
		zr, err := gzip.NewReader(body)
		if err != nil {
			if isTooLarge(err) {
				return nil, errStatus(http.StatusRequestEntityTooLarge, "", "%s", tooLarge)
			}
			return nil, badRequest("", "body is not gzip data (Content-Encoding: gzip): %v", err)
		}
		defer zr.Close()
		rd = zr
	default:
		return nil, errStatus(http.StatusUnsupportedMediaType, "", "Content-Encoding %q not supported (send gzip or no encoding)", enc)
	}
	data, err := io.ReadAll(io.LimitReader(rd, limit+1))
	if err != nil {
		if isTooLarge(err) {
			return nil, errStatus(http.StatusRequestEntityTooLarge, "", "%s", tooLarge)
		}
		return nil, &httpError{status: http.StatusBadRequest, msg: "could not read the request body", err: err}
	}
	if int64(len(data)) > limit {
		return nil, errStatus(http.StatusRequestEntityTooLarge, "", "%s", tooLarge)
	}
	return data, nil
}

func isTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// maxNesting bounds the nesting of every JSON body (the deepest request has 4 levels).
const maxNesting = 16

// bodyLimits are the limits of a JSON body of at most n bytes: every request body is
// checked against them, while reading its tokens and before anything is decoded, so
// that a hostile body (a huge array, deep nesting, long strings, duplicate keys) costs
// a small multiple of its size and is refused with a short message.
func bodyLimits(n int64) jsonlimit.Limits {
	return jsonlimit.Limits{MaxBytes: n, MaxDepth: maxNesting, FoldedKeys: true}
}

// reportLimits adds a report's array lengths (api.Report.Validate checks them again).
func reportLimits(n int64) jsonlimit.Limits {
	l := bodyLimits(n)
	l.ArrayLen = map[string]int{"$.updates": api.MaxReportUpdates, "$.packages": api.MaxPackages,
		"$.updates[*].kb": 200, "$.updates[*].products": 200,
		"$.schedule.lines": api.MaxScheduleLines, "$.schedule.events": api.MaxScheduleEvents}
	l.MaxValues = 40 * api.MaxReportUpdates
	return l
}

// checkLimits refuses data that breaks l: 413 for its size, 400 naming the path
// otherwise (syntax errors are left to decodeStrict, which names the field).
func checkLimits(data []byte, l jsonlimit.Limits) error {
	err := jsonlimit.Check(data, l)
	var e *jsonlimit.Error
	switch {
	case err == nil:
		return nil
	case jsonlimit.TooLarge(err):
		return errStatus(http.StatusRequestEntityTooLarge, "", "request body larger than %d bytes", l.MaxBytes)
	case errors.As(err, &e) && e.Limit == jsonlimit.LimitSyntax && e.Err == nil:
		return nil
	case errors.As(err, &e):
		field := strings.TrimPrefix(strings.TrimPrefix(e.Path, "$"), ".")
		return badRequest(truncate(field, 100), "%s", truncate(e.Msg, 200))
	}
	return badRequest("", "%s", truncate(err.Error(), 200))
}

// decodeStrict decodes exactly one JSON value from data into v (a pointer), refusing
// unknown fields and trailing data, after checking data against l. Its errors are 400s
// naming the offending field as a path such as "updates[3].status".
func decodeStrict(data []byte, v any, l jsonlimit.Limits) error {
	if err := checkLimits(data, l); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			return badRequest("", "trailing data after the JSON value")
		}
		return nil
	}
	if errors.Is(err, io.EOF) {
		return badRequest("", "empty body: send a JSON object")
	}
	var se *json.SyntaxError
	if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) {
		return badRequest(syntaxPath(data), "malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	// Valid JSON that does not fit v: find which field.
	if path, msg, found := locate(data, reflect.TypeOf(v), ""); found {
		return badRequest(path, "%s", msg)
	}
	return badRequest("", "%s", strings.TrimPrefix(err.Error(), "json: "))
}

// syntaxPath walks the tokens of malformed JSON and returns the path of the value being
// read when the syntax error struck.
func syntaxPath(data []byte) string {
	type frame struct {
		array bool
		key   string // object: the current member's key; "" between members
		count int    // array: values started
	}
	var stack []frame
	valueStarted := func() {
		if n := len(stack); n > 0 && stack[n-1].array {
			stack[n-1].count++
		}
	}
	valueDone := func() {
		if n := len(stack); n > 0 && !stack[n-1].array {
			stack[n-1].key = ""
		}
	}
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			switch {
			case f.array && f.count > 0:
				fmt.Fprintf(&b, "[%d]", f.count-1)
			case !f.array && f.key != "":
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			}
		}
		return b.String()
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil {
			return path()
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				valueStarted()
				stack = append(stack, frame{array: t == '['})
			case '}', ']':
				if len(stack) > 0 {
					stack = stack[:len(stack)-1]
				}
				valueDone()
			}
		case string:
			if n := len(stack); n > 0 && !stack[n-1].array && stack[n-1].key == "" {
				stack[n-1].key = t
				continue
			}
			valueStarted()
			valueDone()
		default:
			valueStarted()
			valueDone()
		}
	}
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// locate finds, in syntactically valid JSON, the first value that does not fit type t,
// and says why. found is false when everything fits.
func locate(data []byte, t reflect.Type, path string) (field, msg string, found bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return "", "", false
	}
	pt := reflect.PointerTo(t)
	composite := t.Kind() == reflect.Struct || t.Kind() == reflect.Map ||
		(t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && t.Elem().Kind() != reflect.Uint8
	if !composite || pt.Implements(jsonUnmarshaler) || pt.Implements(textUnmarshaler) {
		if err := json.Unmarshal(trimmed, reflect.New(t).Interface()); err != nil {
			return path, describe(err, t, trimmed), true
		}
		return "", "", false
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		if trimmed[0] != '{' {
			return path, fmt.Sprintf("want an object, got %s", jsonKind(trimmed)), true
		}
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		if _, err := dec.Token(); err != nil {
			return path, "malformed JSON", true
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return path, "malformed JSON", true
			}
			key, _ := tok.(string)
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return joinPath(path, key), "malformed JSON", true
			}
			sub := joinPath(path, key)
			var ft reflect.Type
			if t.Kind() == reflect.Map {
				ft = t.Elem()
			} else {
				f, ok := fieldByJSONName(t, key)
				if !ok {
					return sub, "unknown field (see docs/openapi.yaml for the fields this endpoint accepts)", true
				}
				ft = f.Type
			}
			if p, m, ok := locate(raw, ft, sub); ok {
				return p, m, true
			}
		}
	case reflect.Slice, reflect.Array:
		if trimmed[0] != '[' {
			return path, fmt.Sprintf("want an array, got %s", jsonKind(trimmed)), true
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(trimmed, &elems); err != nil {
			return path, "malformed JSON", true
		}
		if t.Kind() == reflect.Array && len(elems) > t.Len() {
			return path, fmt.Sprintf("at most %d values", t.Len()), true
		}
		for i, e := range elems {
			if p, m, ok := locate(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); ok {
				return p, m, true
			}
		}
	}
	return "", "", false
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fieldByJSONName finds the struct field encoding/json fills from key: exact name
// first, then ignoring case (as encoding/json does), through embedded structs.
func fieldByJSONName(t reflect.Type, key string) (reflect.StructField, bool) {
	var fold *reflect.StructField
	var walk func(t reflect.Type) (reflect.StructField, bool)
	walk = func(t reflect.Type) (reflect.StructField, bool) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				et := f.Type
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if et.Kind() == reflect.Struct {
					if sf, ok := walk(et); ok {
						return sf, true
					}
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if name == key {
				return f, true
			}
			if fold == nil && strings.EqualFold(name, key) {
				ff := f
				fold = &ff
			}
		}
		return reflect.StructField{}, false
	}
	if f, ok := walk(t); ok {
		return f, true
	}
	if fold != nil {
		return *fold, true
	}
	return reflect.StructField{}, false
}

// describe turns a decoding error of one value into words for the client.
func describe(err error, t reflect.Type, data []byte) string {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		return fmt.Sprintf("want %s, got %s", kindWord(t), jsonKind(data))
	}
	var pe *time.ParseError
	if errors.As(err, &pe) || t == reflect.TypeFor[time.Time]() {
		return fmt.Sprintf("%s is not an RFC 3339 time (e.g. 2026-01-31T12:00:00Z)", truncate(string(data), 64))
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func kindWord(t reflect.Type) string {
	if t == reflect.TypeFor[time.Time]() {
		return "an RFC 3339 time string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a value of type " + t.String()
}

// jsonKind names the JSON value data holds, showing short scalars.
func jsonKind(data []byte) string {
	if len(data) == 0 {
		return "nothing"
	}
	switch data[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "the string " + truncate(string(data), 64)
	case 't', 'f':
		return string(data)
	case 'n':
		return "null"
	}
	return "the number " + truncate(string(data), 32)
}

func truncate(s string, n int) string { return app.Truncate(s, n) }
