package cab

// Default limits, used when a Limits field is zero.
const (
	DefaultMaxMemberSize int64 = 4 << 30  // 4 GiB: larger than any member a cabinet can hold (cbFile is 32-bit)
	DefaultMaxTotalSize  int64 = 64 << 30 // 64 GiB of decoded output per Walk or Open
)

// Limits bound what reading a cabinet may produce, so that a small hostile file cannot
// make the reader decode without end. A zero field means its default.
type Limits struct {
	// MaxMemberSize is the largest member that Walk and Open deliver.
	MaxMemberSize int64
	// MaxTotalSize bounds the bytes decoded by one Walk or by one reader from Open,
	// counting the bytes decoded only to skip to a member.
	MaxTotalSize int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxMemberSize <= 0 {
		l.MaxMemberSize = DefaultMaxMemberSize
	}
	if l.MaxTotalSize <= 0 {
		l.MaxTotalSize = DefaultMaxTotalSize
	}
	return l
}

// options is what the Option functions set.
type options struct {
	limits          Limits
	verifyChecksums bool
	name            string
	pool            *DecoderPool // nil: every Walk allocates its own decoders
}

// Option configures Open.
type Option func(*options)

// WithLimits sets the member size and total output limits (zero fields keep their
// defaults).
func WithLimits(l Limits) Option {
	return func(o *options) { o.limits = l }
}

// WithVerifyChecksums turns the verification of CFDATA checksums on (the default) or
// off. Blocks whose checksum field is zero are never verified: zero means "none".
func WithVerifyChecksums(verify bool) Option {
	return func(o *options) { o.verifyChecksums = verify }
}

// WithName names the cabinet in error messages (for example "wsusscn2.cab" or
// "wsusscn2.cab/package2.cab"); without it errors say only "cab: ...".
func WithName(name string) Option {
	return func(o *options) { o.name = name }
}

func buildOptions(opts []Option) options {
	o := options{verifyChecksums: true}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	o.limits = o.limits.withDefaults()
	return o
}
