package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/rules"
	"github.com/openwua/waptwua/internal/store"
	"github.com/openwua/waptwua/internal/wu"
)

// JobPromotion is the rollout check: it promotes PREPROD rules packages to PROD.
const JobPromotion = "promotion"

// DefaultPromotionInterval is how often the promotion check runs (daily).
const DefaultPromotionInterval = 24 * time.Hour

// PackageStore is what the promotion check needs: the packages, the ring of a version
// (its PREPROD hosts) and their update statuses, and where to record the result.
type PackageStore interface {
	ListPackages(ctx context.Context) ([]store.RulesPackage, error)
	PackageHosts(ctx context.Context, name, version, maturity string) ([]store.Host, error)
	HostUpdates(ctx context.Context, hostUUID string, statuses ...wu.Status) ([]store.HostUpdate, error)
	RecordPromotionCheck(ctx context.Context, name, version string, c store.PromotionCheck) error
}

// Promoter is the promotion operation (*app.App): its checks, its audit entry.
type Promoter interface {
	Promote(ctx context.Context, name, version string, why app.Promotion) (store.RulesPackage, error)
}

// WithPackages enables the promotion check on ps (daily, and on demand with
// CheckPromotions); it promotes through p, the same operation as the console's and the
// admin API's "Promote". Without it the check does not run.
func WithPackages(ps PackageStore, p Promoter) Option {
	return func(r *Runner) { r.pkgs, r.promoter = ps, p }
}

// PromotionSummary is what one promotion check did.
type PromotionSummary struct {
	// Checked counts the PREPROD packages evaluated; Promoted names those promoted
	// ("name version").
	Checked  int      `json:"checked"`
	Promoted []string `json:"promoted"`
}

// ErrNoPackages: the runner was built without WithPackages.
var ErrNoPackages = errors.New("promotion check not configured (no package store)")

// CheckPromotions runs the promotion check now and waits for it (the admin API's
// "check promotions").
func (r *Runner) CheckPromotions(ctx context.Context) (PromotionSummary, error) {
	if r.pkgs == nil {
		return PromotionSummary{}, ErrNoPackages
	}
	return r.promo.do(ctx, runArg{forced: true, actor: actorFrom(ctx, "console"), triggered: "forced"})
}

// promotionLoop runs the promotion check at start, then every PromotionInterval.
func (r *Runner) promotionLoop(ctx context.Context) {
	next := r.clock.Now()
	for ctx.Err() == nil {
		if !r.sleepUntil(ctx, next) {
			return
		}
		fire(ctx, r, r.promo, runArg{slot: next, triggered: "schedule"})
		now := r.clock.Now()
		for !next.After(now) {
			next = next.Add(r.set.PromotionInterval)
		}
	}
}

// promote is one promotion check. For each verified, promotable, not held, not yet
// promoted package (see the package doc of internal/server for the model) it evaluates
// the ring and records the result; it promotes when the eligible date has passed and
// the ring succeeded:
//
//   - the ring is the hosts of the package's maturity (PREPROD) whose last report says
//     they applied this version;
//   - a ring host succeeded when none of its updates in ERROR is one the package allows
//     (rules.Decide on the package's rules alone, install_delay aside);
//   - the ring succeeded when successes*100 >= promote_min_success_pct*ring; with a
//     minimum above 0 and an empty ring there is no evidence, and nothing is promoted.
//
// Every promotion is written to the audit log.
func (r *Runner) promote(ctx context.Context, arg runArg) (PromotionSummary, error) {
	sum := PromotionSummary{Promoted: []string{}}
	pkgs, err := r.pkgs.ListPackages(ctx)
	if err != nil {
		return sum, fmt.Errorf("promotion: list packages: %w", err)
	}
	var errs []error
	for _, p := range pkgs {
		if !p.Verified || !p.Promotable() || !p.PromotedAt.IsZero() || p.Hold {
			continue
		}
		sum.Checked++
		ok, err := r.promoteOne(ctx, p, arg)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			sum.Promoted = append(sum.Promoted, p.Name+" "+p.Version)
		}
	}
	return sum, errors.Join(errs...)
}

// promoteOne evaluates one package and promotes it when its conditions hold.
func (r *Runner) promoteOne(ctx context.Context, p store.RulesPackage, arg runArg) (bool, error) {
	now := r.clock.Now()
	chk, err := r.evaluate(ctx, p, now)
	if err != nil {
		return false, fmt.Errorf("promotion of %s %s: %w", p.Name, p.Version, err)
	}
	days, pct := p.PromotionRule()
	eligible := p.EligibleAt()
	ready := !now.Before(eligible)
	success := app.SuccessEnough(chk, pct)
	switch {
	case !ready:
		chk.Note = fmt.Sprintf("waiting until %s (promote_after_days %d)", eligible.UTC().Format(time.RFC3339), days)
	case chk.RingHosts == 0 && pct > 0:
		chk.Note = fmt.Sprintf("no %s host has applied it yet: no evidence for promote_min_success_pct %d", p.Maturity, pct)
	case !success:
		chk.Note = fmt.Sprintf("%d of %d %s hosts succeeded (%.0f%%), promote_min_success_pct is %d",
			chk.SuccessHosts, chk.RingHosts, p.Maturity, 100*float64(chk.SuccessHosts)/float64(chk.RingHosts), pct)
	default:
		chk.Note = fmt.Sprintf("promoted: %d of %d %s hosts succeeded, promote_min_success_pct %d", chk.SuccessHosts, chk.RingHosts, p.Maturity, pct)
	}
	if err := r.pkgs.RecordPromotionCheck(ctx, p.Name, p.Version, chk); err != nil {
		return false, fmt.Errorf("promotion of %s %s: %w", p.Name, p.Version, err)
	}
	if !ready || !success {
		r.log.Debug("package not promoted", "package", p.Name, "version", p.Version, "why", chk.Note)
		return false, nil
	}
	who := app.System
	if arg.actor != "" {
		who.Name = arg.actor
	}
	if _, err := r.promoter.Promote(app.ContextWithUser(ctx, who), p.Name, p.Version, app.Promotion{Check: &chk, Trigger: arg.triggered}); err != nil {
		if app.KindOf(err) == app.Conflict { // another replica was quicker
			return false, nil
		}
		return false, fmt.Errorf("promotion of %s %s: %w", p.Name, p.Version, err)
	}
	r.log.Info("rules package promoted to PROD", "package", p.Name, "version", p.Version, "ring_hosts", chk.RingHosts,
		"success_hosts", chk.SuccessHosts)
	return true, nil
}

// evaluate counts the ring of a package and its successes.
func (r *Runner) evaluate(ctx context.Context, p store.RulesPackage, now time.Time) (store.PromotionCheck, error) {
	chk := store.PromotionCheck{At: now}
	pr, err := rules.Parse(p.Rules)
	if err != nil {
		return chk, fmt.Errorf("its rules do not parse: %w", err)
	}
	ring, err := r.pkgs.PackageHosts(ctx, p.Name, p.Version, p.Maturity)
	if err != nil {
		return chk, err
	}
	allowed := map[wu.UpdateKey]bool{} // per check: each update decided once
	for _, h := range ring {
		chk.RingHosts++
		failed, err := r.pkgs.HostUpdates(ctx, h.UUID, wu.StatusError)
		if err != nil {
			return chk, err
		}
		ok := true
		for _, hu := range failed {
			a, seen := allowed[hu.Key]
			if !seen {
				info, err := r.st.GetUpdate(ctx, hu.Key)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return chk, err
				}
				c := rules.CandidateOf(&info.Update)
				if err != nil { // unknown to the catalog: what the host said
					c = rules.Candidate{Key: hu.Key, KBs: hu.KBs, Severity: hu.Severity}
					if hu.Classification != "" {
						c.Classifications = []string{hu.Classification}
					}
				}
				a = rules.Decide(pr, c, now, 0).Allowed
				allowed[hu.Key] = a
			}
			if a {
				ok = false
				break
			}
		}
		if ok {
			chk.SuccessHosts++
		}
	}
	return chk, nil
}
