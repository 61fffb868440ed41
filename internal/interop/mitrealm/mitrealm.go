// Package mitrealm creates an MIT Kerberos realm in a directory and serves
// it with krb5kdc on loopback: the real KDC that exauth's interop tests
// prove the probe against and that exauth-bench measures the fake KDC
// against. Both build their realm here, so that they test and measure the
// same thing.
//
// It needs MIT's server tools (Debian: krb5-kdc, krb5-admin-server); Tool
// tells whether they are installed.
package mitrealm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Timeouts for the realm's programs.
const (
	ReadyTimeout = 15 * time.Second // krb5kdc must listen within this
	StopTimeout  = 10 * time.Second // and exit within this after SIGTERM
	ToolTimeout  = 30 * time.Second // one run of kdb5_util or kadmin.local
)

// Options describe a realm.
type Options struct {
	Realm string // e.g. LAB.TEST
	Dir   string // database, configuration and logs; it must exist
	Addr  string // host:port krb5kdc listens on, TCP and UDP
	// Enctypes are the realm's supported_enctypes and what its clients
	// request; nil means aes256-cts-hmac-sha1-96 and aes128-cts-hmac-sha1-96
	// (a domain where RC4 is disabled).
	Enctypes []string
	// Env is added to the programs' environment, which is this process's
	// without its Kerberos and locale variables, in the C locale (error
	// texts are asserted), with KRB5_CONFIG and KRB5_KDC_PROFILE set.
	Env []string
}

// Realm is a created realm, and krb5kdc once started.
type Realm struct {
	Name     string
	Dir      string
	Addr     string
	Krb5Conf string   // the clients' krb5.conf (the probe, kinit, kvno)
	KDCConf  string   // krb5kdc's kdc.conf
	LogFile  string   // krb5kdc's log
	Env      []string // the environment the realm's programs run in

	kdc  *exec.Cmd
	done chan struct{}
}

// Tool finds a program on PATH or in the sbin directories a non-login
// root shell may lack.
func Tool(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/lib/postfix/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// Create writes the realm's configuration and creates its database
// (kdb5_util create -s, with a random master password that appears only on
// that short-lived command's argv).
func Create(o Options) (*Realm, error) {
	if o.Realm == "" || o.Dir == "" || o.Addr == "" {
		return nil, errors.New("mitrealm: Realm, Dir and Addr are required")
	}
	enctypes := o.Enctypes
	if len(enctypes) == 0 {
		enctypes = []string{"aes256-cts-hmac-sha1-96", "aes128-cts-hmac-sha1-96"}
	}
	r := &Realm{
		Name: o.Realm, Dir: o.Dir, Addr: o.Addr,
		Krb5Conf: filepath.Join(o.Dir, "krb5.conf"),
		KDCConf:  filepath.Join(o.Dir, "kdc.conf"),
		LogFile:  filepath.Join(o.Dir, "krb5kdc.log"),
	}
	supported := make([]string, len(enctypes))
	for i, e := range enctypes {
		supported[i] = e + ":normal"
	}
	files := map[string]string{
		r.KDCConf: fmt.Sprintf(`[kdcdefaults]
 kdc_listen = %[1]s
 kdc_tcp_listen = %[1]s

[realms]
 %[2]s = {
  database_name = %[3]s/principal
  key_stash_file = %[3]s/stash
  acl_file = %[3]s/kadm5.acl
  master_key_type = %[5]s
  supported_enctypes = %[6]s
  max_life = 10h
  max_renewable_life = 7d
 }

[dbmodules]
 %[2]s = {
  db_library = db2
  disable_last_success = true
  disable_lockout = true
 }

[logging]
 kdc = FILE:%[4]s
 admin_server = FILE:%[3]s/kadmind.log
 default = FILE:%[3]s/krb5lib.log
`, r.Addr, r.Name, r.Dir, r.LogFile, enctypes[0], strings.Join(supported, " ")),
		r.Krb5Conf: fmt.Sprintf(`[libdefaults]
 default_realm = %[1]s
 dns_lookup_kdc = false
 dns_lookup_realm = false
 rdns = false
 dns_canonicalize_hostname = false
 default_tkt_enctypes = %[3]s
 default_tgs_enctypes = %[3]s
 permitted_enctypes = %[3]s

[realms]
 %[1]s = {
  kdc = %[2]s
 }

[domain_realm]
 .%[4]s = %[1]s
 %[4]s = %[1]s
`, r.Name, r.Addr, strings.Join(enctypes, " "), strings.ToLower(r.Name)),
		filepath.Join(r.Dir, "kadm5.acl"): "",
	}
	for path, text := range files {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			return nil, err
		}
	}
	r.Env = append(CleanEnv(), "KRB5_CONFIG="+r.Krb5Conf, "KRB5_KDC_PROFILE="+r.KDCConf)
	r.Env = append(r.Env, o.Env...)
	if _, err := r.run("kdb5_util", "create", "-s", "-r", r.Name, "-P", randomSecret()); err != nil {
		return nil, err
	}
	return r, nil
}

// Kadmin runs one kadmin.local query and returns its output. kadmin.local
// exits 0 even when the query fails, so its error output decides.
func (r *Realm) Kadmin(query string) (string, error) {
	out, err := r.run("kadmin.local", "-r", r.Name, "-q", query)
	if err != nil {
		return out.stdout, err
	}
	for _, line := range strings.Split(out.stderr, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "Authenticating as principal") || strings.Contains(strings.ToLower(line), "no policy specified") {
			continue
		}
		return out.stdout, fmt.Errorf("kadmin.local -q %q: %s", query, strings.TrimSpace(out.stderr))
	}
	return out.stdout, nil
}

// Ktadd exports a principal's keys to a keytab at path (mode 0600). Note
// that ktadd without -norandkey gives the principal new random keys and a
// new key version first: each export invalidates the last one.
func (r *Realm) Ktadd(path, principal string, opts ...string) error {
	if _, err := r.Kadmin(strings.Join(append(append([]string{"ktadd", "-k", path}, opts...), principal), " ")); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}

// Start runs krb5kdc in the foreground (-n), in its own process group so
// that the workers of -w stop with it, with args added, and waits until it
// listens.
func (r *Realm) Start(args ...string) error {
	path, ok := Tool("krb5kdc")
	if !ok {
		return errors.New("mitrealm: krb5kdc not installed (Debian: krb5-kdc)")
	}
	cmd := exec.Command(path, append([]string{"-n", "-r", r.Name, "-P", filepath.Join(r.Dir, "krb5kdc.pid")}, args...)...)
	cmd.Env = r.Env
	out, err := os.Create(filepath.Join(r.Dir, "krb5kdc.out"))
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := startInOwnProcessGroup(cmd); err != nil {
		return fmt.Errorf("mitrealm: start krb5kdc: %w", err)
	}
	r.kdc, r.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(r.done) }()
	deadline := time.Now().Add(ReadyTimeout)
	for {
		c, err := net.DialTimeout("tcp", r.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-r.done:
			return fmt.Errorf("mitrealm: krb5kdc exited before listening on %s (%v); output: %s; log: %s", r.Addr, cmd.ProcessState, readFile(out.Name()), readFile(r.LogFile))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.Stop()
			return fmt.Errorf("mitrealm: krb5kdc does not listen on %s after %s; log: %s", r.Addr, ReadyTimeout, readFile(r.LogFile))
		}
	}
}

// PID is krb5kdc's process ID (its process group's too); 0 before Start.
func (r *Realm) PID() int {
	if r.kdc == nil || r.kdc.Process == nil {
		return 0
	}
	return r.kdc.Process.Pid
}

// Stop stops krb5kdc by its process group: SIGTERM, then SIGKILL after
// StopTimeout. The error says it had to be killed.
func (r *Realm) Stop() error {
	if r.kdc == nil {
		return nil
	}
	pid := r.kdc.Process.Pid
	terminateProcessGroup(pid)
	select {
	case <-r.done:
		return nil
	case <-time.After(StopTimeout):
	}
	killProcessGroup(pid)
	<-r.done
	return fmt.Errorf("mitrealm: krb5kdc (pid %d) ignored SIGTERM for %s and was killed", pid, StopTimeout)
}

type output struct{ stdout, stderr string }

// run runs one of the realm's short-lived tools.
func (r *Realm) run(name string, args ...string) (output, error) {
	path, ok := Tool(name)
	if !ok {
		return output{}, fmt.Errorf("mitrealm: %s not installed (Debian: krb5-kdc, krb5-admin-server)", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ToolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = r.Env
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out := output{stdout.String(), stderr.String()}
	if err != nil {
		return out, fmt.Errorf("mitrealm: %s %s: %w\n%s", name, args[0], err, strings.TrimSpace(out.stderr))
	}
	return out, nil
}

// CleanEnv is this process's environment without the host's Kerberos and
// locale variables, in the C locale (the tools' error texts are asserted),
// with extra added.
func CleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "KRB5") || k == "LANG" || strings.HasPrefix(k, "LC_") {
			continue
		}
		env = append(env, kv)
	}
	return append(append(env, "LC_ALL=C"), extra...)
}

func randomSecret() string {
	b := make([]byte, 18)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return string(b)
}
