package app

import "context"

// MirrorAdmin is what the site repository operations need of the store.
type MirrorAdmin interface {
	DeleteMirror(ctx context.Context, name string) error
}

// DeleteMirror removes a site repository (mirror.delete): its credential stops working
// at once and its name may enroll again (a reinstalled mirror, a lost credential).
func (a *App) DeleteMirror(ctx context.Context, name string) error {
	who, err := admin(ctx)
	if err != nil {
		return err
	}
	if a.d.Mirrors == nil {
		return errorf(Unavailable, "", "this server keeps no site repositories")
	}
	if err := a.d.Mirrors.DeleteMirror(ctx, name); err != nil {
		return notFound(err, "no site repository %q", Truncate(name, 100))
	}
	a.audit(ctx, who.Name, "mirror.delete", "mirror:"+name, nil)
	return nil
}
