package wu

// UpdateHosts returns the host patterns Microsoft serves Windows Update's catalog and
// files from (REFERENCE §1): the only hosts the server downloads from unless configured
// otherwise. A "*." pattern matches any subdomain, not the domain itself. Each call
// returns a fresh slice.
func UpdateHosts() []string {
	return []string{
		"windowsupdate.microsoft.com",
		"*.windowsupdate.microsoft.com",
		"*.update.microsoft.com",
		"windowsupdate.com",
		"download.windowsupdate.com",
		"download.microsoft.com",
		"*.download.windowsupdate.com",
		"wustat.windows.com",
		"ntservicepack.microsoft.com",
		"go.microsoft.com",
		"dl.delivery.mp.microsoft.com",
	}
}
