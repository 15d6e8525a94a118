package sim

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/openwua/waptwua/internal/wu"
)

// ActionExit gives the exit code of the update packages' commands whose command line
// contains Match (compared ignoring case), e.g. {"match": "kb5034441", "exit_code": "3010"}.
// The first entry that matches applies; a command no entry matches exits with 0.
type ActionExit struct {
	Match    string `json:"match"`
	ExitCode string `json:"exit_code"` // decimal or 0x hex: "3010", "0x80240017"
}

// RunCommand stands for running an update package's command (wusa, dism, pnputil,
// setup) on the simulated host: it records the command line in the history and
// returns the exit code the profile's actions give it.
func (h *Host) RunCommand(ctx context.Context, commandLine string) (uint32, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.check(ctx); err != nil {
		return 0, err
	}
	code := uint32(0)
	for i, e := range h.profile.Actions {
		if e.Match == "" || !strings.Contains(strings.ToLower(commandLine), strings.ToLower(e.Match)) {
			continue
		}
		n, err := strconv.ParseUint(e.ExitCode, 0, 32)
		if err != nil {
			return 0, fmt.Errorf("sim profile: actions[%d].exit_code %q: want a number such as 3010 or 0x80240017", i, e.ExitCode)
		}
		code = uint32(n)
		break
	}
	h.st.record(attempt{At: h.clock.Now(), Update: "command: " + commandLine, Result: strconv.FormatUint(uint64(code), 10)})
	return code, h.st.save(h.statePath)
}

// Commands returns the command lines RunCommand recorded, oldest first.
func (h *Host) Commands() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, a := range h.st.History {
		if c, ok := strings.CutPrefix(a.Update, "command: "); ok {
			out = append(out, c)
		}
	}
	return out
}

// NoteKB records that an update package installed (or removed) KB kb: the next scans
// report the updates of that KB installed (or not installed).
func (h *Host) NoteKB(ctx context.Context, kb string, installed bool) error {
	d, err := wu.ParseKB(kb)
	if err != nil {
		return fmt.Errorf("sim: KB %q: %w", kb, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.check(ctx); err != nil {
		return err
	}
	if h.st.KBs == nil {
		h.st.KBs = map[string]bool{}
	}
	h.st.KBs[d] = installed
	return h.st.save(h.statePath)
}

// outOfBand says whether an update package installed or removed one of u's KBs.
func (h *Host) outOfBand(u *wu.Update) (installed, known bool) {
	for _, kb := range u.KBs {
		if d, err := wu.ParseKB(kb); err == nil {
			if v, ok := h.st.KBs[d]; ok {
				return v, true
			}
		}
	}
	return false, false
}
