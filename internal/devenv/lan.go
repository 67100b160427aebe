package devenv

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/devenv/localca"
	"github.com/sprechzimmer/sprechzimmer/internal/devenv/termqr"
)

// DefaultLANPort is the front door's port on the LAN when none is given.
const DefaultLANPort = "8443"

// LANOptions serve the local setup to the LAN over HTTPS, for a phone in
// the same network: a phone's browser gives camera and microphone only to
// a secure context, which on a LAN address means HTTPS with a certificate
// it trusts.
type LANOptions struct {
	// Listen is the front door's host:port on the LAN. The host must be
	// an IP address of this machine; an empty host means the address the
	// default route leaves from (on a laptop in a Wi-Fi, the one the
	// phones in that Wi-Fi reach); an empty port means DefaultLANPort.
	Listen string
	// CADir keeps the local certificate authority (localca.DefaultDir):
	// made on the first run, reused after, so a phone trusts it once.
	CADir string
}

// LAN is the front door as served to the LAN.
type LAN struct {
	// Origin is https://<LAN address>:<port>; the links point there.
	Origin *url.URL
	// IP is the LAN address the front door and the TURN server listen on.
	IP net.IP
	// CA issued the front door's certificate; CADir keeps it and NewCA
	// says whether this run made it.
	CA    *localca.Authority
	CADir string
	NewCA bool
}

// listenLAN opens the front door's listener on the LAN address with a
// certificate the local authority issues for it, and says where.
func listenLAN(ctx context.Context, o LANOptions, now time.Time) (net.Listener, *LAN, error) {
	host, port, err := net.SplitHostPort(o.Listen)
	if err != nil && o.Listen != "" {
		return nil, nil, fmt.Errorf("LAN address (-lan-listen): want host:port, :port or nothing: %w", err)
	}
	if port == "" {
		port = DefaultLANPort
	}
	var ip net.IP
	if host == "" {
		if ip, err = defaultRouteAddress(ctx); err != nil {
			return nil, nil, err
		}
	} else if ip = net.ParseIP(host); ip == nil {
		return nil, nil, fmt.Errorf("LAN address (-lan-listen): the host must be an IP address of this machine, not a name")
	}
	ca, created, err := localca.LoadOrCreate(o.CADir, now)
	if err != nil {
		return nil, nil, err
	}
	cert, err := ca.ServerCertificate([]string{ip.String()}, now)
	if err != nil {
		return nil, nil, err
	}
	raw, err := (&net.ListenConfig{}).Listen(ctx, "tcp", net.JoinHostPort(ip.String(), port))
	if err != nil {
		return nil, nil, fmt.Errorf("front door on the LAN: %w", err)
	}
	// HTTP/1.1 only: the front door hands WebSockets on by hijacking the
	// connection, which HTTP/2 has no way to do.
	listener := tls.NewListener(raw, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12})
	lan := &LAN{
		Origin: &url.URL{Scheme: "https", Host: raw.Addr().String()},
		IP:     ip,
		CA:     ca,
		CADir:  o.CADir,
		NewCA:  created,
	}
	return listener, lan, nil
}

// defaultRouteAddress is this machine's address on the interface of its
// default IPv4 route. Connecting a UDP socket looks the route up and sends
// nothing (192.0.2.1 is TEST-NET-1).
func defaultRouteAddress(ctx context.Context) (net.IP, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, "udp4", "192.0.2.1:9")
	if err != nil {
		return nil, fmt.Errorf("LAN address: this machine has no default route; give its LAN address with -lan-listen <address>:%s", DefaultLANPort)
	}
	defer func() { _ = c.Close() }()
	ip := c.LocalAddr().(*net.UDPAddr).IP
	if ip.IsLoopback() || ip.IsUnspecified() {
		return nil, fmt.Errorf("LAN address: the default route leaves from loopback; give the LAN address with -lan-listen <address>:%s", DefaultLANPort)
	}
	return ip, nil
}

// handler is the front door with the authority's certificate at
// localca.DownloadPath, for a phone to download and trust.
func (l *LAN) handler(door http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+localca.DownloadPath, l.CA)
	mux.Handle("/", door)
	return mux
}

// DownloadURL is where a phone downloads the authority's certificate.
func (l *LAN) DownloadURL() string { return l.Origin.String() + localca.DownloadPath }

// printPhoneHelp tells a person how to open the client's link on a phone:
// trust the authority once, then scan the link's QR code.
func printPhoneHelp(out io.Writer, l *LAN, clientLink string) {
	say := func(format string, args ...any) { _, _ = fmt.Fprintf(out, format+"\n", args...) }
	say("On a phone in the same network (Wi-Fi), try it as the client:")
	say("")
	if l.NewCA {
		say("  1. Trust this setup's certificate authority, once (it was just made; later runs reuse it).")
	} else {
		say("  1. Trust this setup's certificate authority, once (skip this if the phone trusts it from an earlier run).")
	}
	say("     On the phone, open %s", l.DownloadURL())
	say("     The browser warns once that the connection is not private: continue (\"Show Details\",")
	say("     \"visit this website\"; or \"Advanced\", \"Proceed\") and allow the download. Then:")
	say("       iPhone, iPad: Settings → General → VPN & Device Management → %q → Install;", l.CA.Cert.Subject.CommonName)
	say("                     then Settings → General → About → Certificate Trust Settings → switch it on.")
	say("       Android:      Settings → Security & privacy → More security settings → Encryption & credentials")
	say("                     → Install a certificate → CA certificate → the downloaded file.")
	say("                     Firefox for Android: Settings → About Firefox, tap its logo five times, then")
	say("                     Settings → Secret Settings → \"Use third party CA certificates\".")
	say("     The certificate's SHA-256 fingerprint is")
	say("       %s", l.CA.Fingerprint())
	say("  2. Open the client's link: scan this code with the phone's camera.")
	say("")
	if code, err := termqr.Render(clientLink); err == nil {
		for line := range strings.Lines(code) {
			_, _ = io.WriteString(out, "     "+line)
		}
	}
	say("")
	say("On this computer, open the therapist's link. The browser trusts it once it trusts the same")
	say("authority, %s (Chromium, Chrome: Settings → Privacy and security", filepath.Join(l.CADir, localca.CertFile))
	say("→ Security → Manage certificates → Authorities → Import; Firefox: Settings → Privacy & Security")
	say("→ View Certificates → Authorities → Import); or continue past its warning.")
	say("The authority stays in %s for later runs. When you no longer need it, remove", l.CADir)
	say("that directory and the certificate from the phone.")
	say("")
}

// serverLog takes the LAN front door's server log: a refused TLS handshake
// (a phone that does not trust the authority yet) becomes one hint to the
// person, without the phone's address; other lines go to logs.
type serverLog struct {
	out, logs io.Writer
	hinted    atomic.Bool
}

func (w *serverLog) Write(p []byte) (int, error) {
	if !bytes.Contains(p, []byte("TLS handshake error")) {
		return w.logs.Write(p)
	}
	if w.hinted.CompareAndSwap(false, true) {
		_, _ = fmt.Fprintln(w.out, "· a browser refused the front door's certificate: that device does not trust the local certificate authority yet (see above)")
	}
	return len(p), nil
}
