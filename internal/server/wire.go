package server

import (
	"time"

	"github.com/openwua/waptwua/internal/api/admin"
	"github.com/openwua/waptwua/internal/app"
	"github.com/openwua/waptwua/internal/store"
)

// Conversions from store values to the admin API's wire types (internal/api/admin): the
// API's JSON does not follow the store's types.

// mapSlice converts every element; nil stays nil (null in JSON), as the store gave it.
func mapSlice[S, T any](in []S, f func(S) T) []T {
	if in == nil {
		return nil
	}
	out := make([]T, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

func wireUser(u store.User) admin.User {
	return admin.User{Username: u.Username, Role: string(u.Role), CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

func wireCommand(c store.Command) admin.Command {
	return admin.Command{ID: c.ID, HostUUID: c.HostUUID, Kind: string(c.Kind), Args: c.Args, Actor: c.Actor, Status: string(c.Status),
		CreatedAt: c.CreatedAt, SentAt: c.SentAt, FinishedAt: c.FinishedAt, Result: c.Result, Error: c.Error}
}

func wireAudit(e store.AuditEntry) admin.AuditEntry {
	return admin.AuditEntry{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, Target: e.Target, Details: e.Details}
}

func wireAssignment(a store.PackageAssignment) admin.Assignment {
	return admin.Assignment{Package: a.Package, Kind: string(a.Kind), Target: a.Target, CreatedAt: a.CreatedAt, CreatedBy: a.CreatedBy}
}

func wireRollout(r *app.RolloutState) *admin.Rollout {
	if r == nil {
		return nil
	}
	return &admin.Rollout{Status: r.Status, PromoteAfterDays: r.PromoteAfterDays, PromoteMinSuccessPct: r.PromoteMinSuccessPct,
		EligibleAt: r.EligibleAt, SuccessPct: r.SuccessPct, RingHosts: r.RingHosts, SuccessHosts: r.SuccessHosts,
		CheckedAt: r.CheckedAt, Note: r.Note, PromotedAt: r.PromotedAt, PromotedBy: r.PromotedBy}
}

// wirePackage is a package with its rollout at the server's now and its assignments
// (those of assigns that name it).
func (s *Server) wirePackage(p store.RulesPackage, assigns []store.PackageAssignment) admin.Package {
	v := admin.Package{Name: p.Name, Version: p.Version, Filename: p.Filename, SHA256: p.SHA256, Size: p.Size, Maturity: p.Maturity,
		Description: p.Description, Signer: p.Signer, SignerFingerprint: p.SignerFingerprint, SignatureDate: p.SignatureDate,
		TargetGroups: p.TargetGroups, PromoteAfterDays: p.PromoteAfterDays, PromoteMinSuccessPct: p.PromoteMinSuccessPct,
		Rules: p.Rules, Verified: p.Verified, VerifyError: p.VerifyError, UploadedAt: p.UploadedAt, UploadedBy: p.UploadedBy,
		Priority: p.Priority, Hold: p.Hold, PolicyPromoteAfterDays: p.PackagePolicy.PromoteAfterDays,
		PolicyPromoteMinSuccessPct: p.PackagePolicy.PromoteMinSuccessPct, PromotedAt: p.PromotedAt, PromotedBy: p.PromotedBy,
		LastCheck: admin.PromotionCheck{At: p.LastCheck.At, RingHosts: p.LastCheck.RingHosts, SuccessHosts: p.LastCheck.SuccessHosts,
			Note: p.LastCheck.Note},
		OfferedMaturity: p.OfferedMaturity(), Rollout: wireRollout(app.Rollout(p, s.now())), Assignments: []admin.Assignment{},
		Kind: store.PackageKindRules, Actions: p.Actions, PayloadComplete: p.PayloadComplete}
	if p.IsUpdate() {
		v.Kind = store.PackageKindUpdate
	}
	for _, a := range assigns {
		if a.Package == p.Name {
			v.Assignments = append(v.Assignments, wireAssignment(a))
		}
	}
	return v
}

func wireHostPackage(p store.HostPackage) admin.HostPackage {
	return admin.HostPackage{Name: p.Name, Version: p.Version, Status: p.Status, Error: p.Error, ChangedAt: p.ChangedAt}
}

func wireHost(h store.Host) admin.Host {
	c := h.Counts
	out := admin.Host{Pending: h.Pending, ResetAt: h.ResetAt, ResetBy: h.ResetBy, UUID: h.UUID, Name: h.Name, OS: h.OS, Groups: h.Groups, Maturity: h.Maturity, AgentVersion: h.AgentVersion,
		RegisteredAt: h.RegisteredAt, WUAStatus: h.WUAStatus, LastSeen: h.LastSeen, LastScan: h.LastScan,
		RebootPending: h.RebootPending, LastError: h.LastError,
		Counts: admin.StatusCounts{OK: c.OK, Pending: c.Pending, Missing: c.Missing, Discarded: c.Discarded, Error: c.Error, Superseded: c.Superseded}}
	out.Packages = mapSlice(h.Packages, wireHostPackage)
	out.Networks, out.Repository, out.RepositoryAt = h.Networks, h.Repository, h.RepositoryAt
	out.UpdatePackages = mapSlice(h.UpdatePackages, wireHostPackage)
	return out
}

func wireFile(f store.UpdateFile) admin.File {
	return admin.File{File: f.File, DownloadedOn: f.DownloadedOn, DownloadedSize: f.DownloadedSize, LastError: f.LastError,
		Attempts: f.Attempts, LastAttempt: f.LastAttempt, DeletedOn: f.DeletedOn}
}

func wireUpdate(u store.UpdateInfo) admin.Update {
	out := admin.Update{Update: u.Update, Source: string(u.Source), DownloadedOn: u.DownloadedOn, Superseded: u.Superseded,
		HostsNeeding: u.HostsNeeding, HostsInstalled: u.HostsInstalled, ImportedAt: u.ImportedAt, ChangedAt: u.ChangedAt}
	out.FileStates = mapSlice(u.FileStates, wireFile)
	return out
}

func wireFacetCount(f store.FacetCount) admin.FacetCount {
	return admin.FacetCount{Value: f.Value, Count: f.Count}
}

func wireUpdatePage(p store.UpdatePage) admin.UpdatePage {
	out := admin.UpdatePage{Updates: make([]admin.Update, 0, len(p.Updates)), Total: p.Total, Next: p.Next}
	for _, u := range p.Updates {
		out.Updates = append(out.Updates, wireUpdate(u))
	}
	if p.Facets != nil {
		out.Facets = &admin.Facets{Severity: mapSlice(p.Facets.Severity, wireFacetCount),
			Product: mapSlice(p.Facets.Product, wireFacetCount), Classification: mapSlice(p.Facets.Classification, wireFacetCount)}
	}
	return out
}

func wireTask(t store.DownloadTask) admin.Task {
	return admin.Task{ID: t.ID, FileSHA1: t.FileSHA1, FileName: t.FileName, URL: t.URL, Size: t.Size, Bytes: t.Bytes,
		Status: string(t.Status), Attempts: t.Attempts, Error: t.Error, Worker: t.Worker, CreatedAt: t.CreatedAt,
		StartedAt: t.StartedAt, FinishedAt: t.FinishedAt, UpdatedAt: t.UpdatedAt}
}

func wireCabSync(c store.CabSync) admin.CabSync {
	return admin.CabSync{ID: c.ID, StartedAt: c.StartedAt, UpdatedAt: c.UpdatedAt, CabDate: c.CabDate, Size: c.Size, SHA1: c.SHA1,
		Status: string(c.Status), Reason: string(c.Reason), Error: c.Error}
}

// wireList converts a list the API always answers as an array ([] when empty).
func wireList[S, T any](in []S, f func(S) T) []T {
	if in == nil {
		return []T{}
	}
	return mapSlice(in, f)
}

func wireSession(x store.Session) admin.Session {
	return admin.Session{ID: x.ID, Username: x.Username, Kind: string(x.Kind), CreatedAt: x.CreatedAt, LastSeen: x.LastSeen,
		ExpiresAt: x.ExpiresAt, IdleTimeoutSeconds: int64(x.IdleTimeout / time.Second), Remote: x.Remote, UserAgent: x.UserAgent}
}

func wireToken(t store.EnrollmentToken) admin.EnrollmentToken {
	return admin.EnrollmentToken{ID: t.ID, Label: t.Label, CreatedAt: t.CreatedAt, CreatedBy: t.CreatedBy, ExpiresAt: t.ExpiresAt,
		MaxUses: t.MaxUses, Uses: t.Uses, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt, RevokedBy: t.RevokedBy}
}
