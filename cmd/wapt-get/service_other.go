//go:build !windows

package main

import (
	"context"
	"fmt"
)

// runService runs in the foreground until SIGINT/SIGTERM (ctx). There is no machine
// shutdown notification here: install_at_shutdown applies to the Windows service.
// asService (--as-service) is for the Windows service control manager: refused here.
func runService(ctx context.Context, g *globals, asService bool) error {
	if asService {
		return fmt.Errorf("--as-service is for the Windows service control manager; here run \"wapt-get service run\" from your init system")
	}
	a, err := g.openAgent(ctx, nil)
	if err != nil {
		return err
	}
	return serve(ctx, a)
}

const unitHint = `run "wapt-get service run" from your init system, e.g. a systemd unit with
  ExecStart=/opt/wapt/wapt-get service run --config /opt/wapt/wapt-get.ini
  Restart=on-failure`

func installService(*globals) error {
	return fmt.Errorf("service install manages a Windows service; here %s", unitHint)
}

func uninstallService(*globals) error {
	return fmt.Errorf("service uninstall manages a Windows service; here remove the unit that runs wapt-get service run")
}
