package app

import (
	"context"
	"errors"

	"github.com/openwua/waptwua/internal/store"
)

// ListUsers returns every console user (any authenticated user may read them).
func (a *App) ListUsers(ctx context.Context) ([]store.User, error) {
	if _, err := reader(ctx); err != nil {
		return nil, err
	}
	return a.d.Users.ListUsers(ctx)
}

// GetUser returns one console user.
func (a *App) GetUser(ctx context.Context, name string) (store.User, error) {
	if _, err := reader(ctx); err != nil {
		return store.User{}, err
	}
	u, err := a.d.Users.GetUser(ctx, name)
	return u, notFound(err, "no user %q", Truncate(name, 80))
}

// NewUser is a user to create.
type NewUser struct {
	Username string
	Password *string
	Role     *string
}

// CreateUser adds a console user (user.create).
func (a *App) CreateUser(ctx context.Context, req NewUser) (store.User, error) {
	who, err := admin(ctx)
	if err != nil {
		return store.User{}, err
	}
	if err := ValidateUsername(req.Username); err != nil {
		return store.User{}, errorf(Invalid, "username", "%v", err)
	}
	if req.Role == nil {
		return store.User{}, errorf(Invalid, "role", "required: admin or read-only")
	}
	role, err := ParseRole(*req.Role)
	if err != nil {
		return store.User{}, errorf(Invalid, "role", "%v", err)
	}
	if req.Password == nil {
		return store.User{}, errorf(Invalid, "password", "required")
	}
	if err := ValidatePassword(*req.Password, req.Username); err != nil {
		return store.User{}, errorf(Invalid, "password", "%v", err)
	}
	hash, err := HashPassword(*req.Password, a.passwordCost)
	if err != nil {
		return store.User{}, err
	}
	now := a.now()
	u := store.User{Username: req.Username, PasswordHash: hash, Role: role, CreatedAt: now, UpdatedAt: now}
	if err := a.d.Users.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.User{}, &Error{Kind: Conflict, Field: "username", Msg: "user \"" + req.Username + "\" exists already", Err: err}
		}
		return store.User{}, err
	}
	a.audit(ctx, who.Name, "user.create", "user:"+u.Username, map[string]any{"role": role})
	return u, nil
}

// otherAdmins counts the admins other than name.
func (a *App) otherAdmins(ctx context.Context, name string) (int, error) {
	us, err := a.d.Users.ListUsers(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, u := range us {
		if u.Role == store.RoleAdmin && u.Username != name {
			n++
		}
	}
	return n, nil
}

// UpdateUser changes a user's password and/or role (user.update); the last admin keeps
// its role.
func (a *App) UpdateUser(ctx context.Context, name string, req NewUser) (store.User, error) {
	who, err := admin(ctx)
	if err != nil {
		return store.User{}, err
	}
	if req.Username != "" && req.Username != name {
		return store.User{}, errorf(Invalid, "username", "users cannot be renamed: create a new user and delete this one")
	}
	if req.Password == nil && req.Role == nil {
		return store.User{}, errorf(Invalid, "", "nothing to change: send password and/or role")
	}
	cur, err := a.d.Users.GetUser(ctx, name)
	if err != nil {
		return store.User{}, notFound(err, "no user %q", Truncate(name, 80))
	}
	var hash string
	if req.Password != nil {
		if err := ValidatePassword(*req.Password, name); err != nil {
			return store.User{}, errorf(Invalid, "password", "%v", err)
		}
		if hash, err = HashPassword(*req.Password, a.passwordCost); err != nil {
			return store.User{}, err
		}
	}
	var role store.Role
	if req.Role != nil {
		if role, err = ParseRole(*req.Role); err != nil {
			return store.User{}, errorf(Invalid, "role", "%v", err)
		}
		if cur.Role == store.RoleAdmin && role != store.RoleAdmin {
			n, err := a.otherAdmins(ctx, name)
			if err != nil {
				return store.User{}, err
			}
			if n == 0 {
				return store.User{}, errorf(Conflict, "role", "%q is the last admin: make another user admin first", name)
			}
		}
	}
	now := a.now()
	details := map[string]any{}
	if hash != "" {
		if err := a.d.Users.SetPassword(ctx, name, hash, now); err != nil {
			return store.User{}, err
		}
		details["password_changed"] = true
	}
	if role != "" && role != cur.Role {
		if err := a.d.Users.SetRole(ctx, name, role, now); err != nil {
			return store.User{}, err
		}
		details["role"] = role
		details["previous_role"] = cur.Role
	}
	a.audit(ctx, who.Name, "user.update", "user:"+name, details)
	return a.d.Users.GetUser(ctx, name)
}

// DeleteUser removes a user (user.delete); the last admin stays.
func (a *App) DeleteUser(ctx context.Context, name string) error {
	who, err := admin(ctx)
	if err != nil {
		return err
	}
	cur, err := a.d.Users.GetUser(ctx, name)
	if err != nil {
		return notFound(err, "no user %q", Truncate(name, 80))
	}
	if cur.Role == store.RoleAdmin {
		n, err := a.otherAdmins(ctx, name)
		if err != nil {
			return err
		}
		if n == 0 {
			return errorf(Conflict, "", "%q is the last admin and cannot be deleted", name)
		}
	}
	if err := a.d.Users.DeleteUser(ctx, name); err != nil {
		return err
	}
	a.audit(ctx, who.Name, "user.delete", "user:"+name, map[string]any{"role": cur.Role})
	return nil
}
