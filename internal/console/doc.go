// Package console is the web console of waptserver: server-rendered html/template pages
// under /ui/ (dashboard, Windows Updates, hosts, rules, download tasks, audit log, CSV
// exports) with embedded static assets and htmx for live parts (download progress, host
// status), so every page also works without JavaScript.
//
// The console reads the store through the small Store interface declared here, starts
// jobs through Jobs, edits the server-wide rules through RulesEditor and reads the
// repository's disk use through CacheUsage; cmd/waptserver wires the concrete pieces.
// Users log in with the console accounts of the store (bcrypt hashes, as the admin API
// sets them); the session is an HMAC-signed cookie and every POST carries a CSRF token
// derived from it. Read-only users see no action button and their POSTs get 403.
package console
