package api

import (
	"errors"
	"strings"
	"testing"

	"github.com/openwua/waptwua/internal/wu"
)

func TestReportValidate(t *testing.T) {
	good := UpdateStatus{UpdateID: "0a1b2c3d-0000-1111-2222-333344445555", RevisionNumber: 1, Status: wu.StatusPending}
	tests := []struct {
		desc  string
		mod   func(u *UpdateStatus)
		field string
	}{
		{"valid", func(*UpdateStatus) {}, ""},
		{"bad guid", func(u *UpdateStatus) { u.UpdateID = "x" }, "updates[0].update_id"},
		{"bad status", func(u *UpdateStatus) { u.Status = "INSTALLED" }, "updates[0].status"},
		{"bad reason", func(u *UpdateStatus) { u.Reason = "because" }, "updates[0].reason"},
		{"negative revision", func(u *UpdateStatus) { u.RevisionNumber = -1 }, "updates[0].revision_number"},
		{"long title", func(u *UpdateStatus) { u.Title = strings.Repeat("x", MaxTitleLen+1) }, "updates[0].title"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			u := good
			tt.mod(&u)
			r := Report{Updates: []UpdateStatus{u}}
			err := r.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("got %v, want field %s", err, tt.field)
			}
		})
	}
}
