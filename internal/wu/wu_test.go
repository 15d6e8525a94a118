package wu

import "testing"

func TestParseUpdateKey(t *testing.T) {
	tests := []struct {
		in      string
		want    UpdateKey
		wantErr bool
	}{
		{in: "0A1B2C3D-0000-1111-2222-333344445555_201", want: UpdateKey{"0a1b2c3d-0000-1111-2222-333344445555", 201}},
		{in: "0a1b2c3d-0000-1111-2222-333344445555", want: UpdateKey{"0a1b2c3d-0000-1111-2222-333344445555", 0}},
		{in: "KB5034441", wantErr: true},
		{in: "0a1b2c3d-0000-1111-2222-333344445555_x", wantErr: true},
		{in: "0a1b2c3d-0000-1111-2222-333344445555_", wantErr: true},
		{in: "0a1b2c3d-0000-1111-2222-33334444555g_1", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseUpdateKey(tt.in)
		if (err != nil) != tt.wantErr {
			t.Fatalf("ParseUpdateKey(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
		}
		if err == nil && got != tt.want {
			t.Errorf("ParseUpdateKey(%q) = %v, want %v", tt.in, got, tt.want)
		}
		if err == nil && got.String() != tt.want.String() {
			t.Errorf("String() = %q", got.String())
		}
	}
}

func TestParseSeverity(t *testing.T) {
	if s, err := ParseSeverity(" critical "); err != nil || s != SeverityCritical {
		t.Fatalf("got %q, %v", s, err)
	}
	if _, err := ParseSeverity("urgent"); err == nil {
		t.Fatal("urgent accepted")
	}
}
