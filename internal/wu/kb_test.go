package wu

import "testing"

func TestParseKB(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: "KB5034441", want: "5034441"},
		{in: "kb5034441", want: "5034441"},
		{in: "Kb5034441", want: "5034441"},
		{in: " 5034441 ", want: "5034441"},
		{in: "KB0005034441", want: "5034441"},
		{in: "KB", wantErr: true},
		{in: "", wantErr: true},
		{in: "KB0", wantErr: true},
		{in: "KB 5034441", wantErr: true},
		{in: "KB5034441a", wantErr: true},
		{in: "KB-5034441", wantErr: true},
		{in: "KB+5034441", wantErr: true},
		{in: "KB１２３", wantErr: true}, // full-width digits
		{in: "KB1234567890123", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseKB(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseKB(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseKB(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := FormatKB("5034441"); got != "KB5034441" {
		t.Errorf("FormatKB = %q", got)
	}
}
