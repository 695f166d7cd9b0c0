// kube-test-server: a real kube-apiserver with an embedded etcd, for the test suite only.
//
// Everything listens on 127.0.0.1. It generates a throw-away CA, a serving certificate,
// a service-account signing key and a static token file, starts etcd in-process
// (go.etcd.io/etcd/server/v3/embed), then runs the upstream kube-apiserver command
// (k8s.io/kubernetes/cmd/kube-apiserver/app) with RBAC authorization. Once /readyz
// passes it writes an admin kubeconfig and prints one line:
//
//	READY {"server":"https://127.0.0.1:PORT","kubeconfig":"...","caFile":"..."}
//
// SIGTERM/SIGINT stop the apiserver gracefully, then etcd, then remove the temp dir.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "time/tzdata"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	port := flag.Int("port", 0, "secure port for the apiserver on 127.0.0.1 (required)")
	kubeconfigPath := flag.String("kubeconfig", "", "where to write the admin kubeconfig once ready (required)")
	dataDir := flag.String("data-dir", "", "working directory (certs, keys, etcd data); default: a temp dir removed on exit")
	adminToken := flag.String("admin-token", "", "bearer token of user 'admin' (group system:masters); default: random")
	restrictedToken := flag.String("restricted-token", "", "bearer token of user 'restricted' (no RBAC bindings); default: random")
	verbosity := flag.Int("v", 0, "kube-apiserver log verbosity")
	readyTimeout := flag.Duration("ready-timeout", 3*time.Minute, "how long to wait for /readyz")
	flag.Parse()
	if *port <= 0 || *kubeconfigPath == "" {
		fatalf("--port and --kubeconfig are required")
	}
	if *adminToken == "" {
		*adminToken = randomToken()
	}
	if *restrictedToken == "" {
		*restrictedToken = randomToken()
	}

	// Created first: it installs the SIGTERM/SIGINT handler (first signal cancels cmd.Context()).
	cmd := app.NewAPIServerCommand()
	ctx := cmd.Context()

	removeDir := false
	if *dataDir == "" {
		d, err := os.MkdirTemp("", "kube-test-server-")
		check(err, "temp dir")
		*dataDir, removeDir = d, true
	}
	cleanup := func() {
		if removeDir {
			_ = os.RemoveAll(*dataDir)
		}
	}
	pki := filepath.Join(*dataDir, "pki")
	check(os.MkdirAll(pki, 0o700), "pki dir")

	caPEM, certFile, keyFile := writeServingCerts(pki)
	caFile := filepath.Join(pki, "ca.crt")
	saKeyFile := filepath.Join(pki, "sa.key")
	writeECKey(saKeyFile, mustECKey())
	tokenFile := filepath.Join(pki, "tokens.csv")
	tokens := fmt.Sprintf("%s,admin,uid-admin,\"system:masters\"\n%s,restricted,uid-restricted\n", *adminToken, *restrictedToken)
	check(os.WriteFile(tokenFile, []byte(tokens), 0o600), "token file")

	etcd, etcdURL := startEtcd(filepath.Join(*dataDir, "etcd"))
	stopEtcd := func() {
		etcd.Close()
		cleanup()
	}
	select {
	case <-ctx.Done():
		stopEtcd()
		os.Exit(0)
	default:
	}

	args := []string{
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(*port),
		"--cert-dir=" + filepath.Join(*dataDir, "cert-dir"),
		"--tls-cert-file=" + certFile,
		"--tls-private-key-file=" + keyFile,
		"--etcd-servers=" + etcdURL,
		"--storage-backend=etcd3",
		"--authorization-mode=RBAC",
		"--token-auth-file=" + tokenFile,
		"--anonymous-auth=true", // anonymous may read /readyz, /livez, /version only (system:public-info-viewer)
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + saKeyFile,
		"--service-account-signing-key-file=" + saKeyFile,
		"--service-cluster-ip-range=10.96.0.0/24", // configuration only; nothing routes there
		"--endpoint-reconciler-type=none",         // a loopback advertise address is not a valid Endpoints IP
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--allow-privileged=true",
		"--v=" + strconv.Itoa(*verbosity),
	}
	cmd.SetArgs(args)

	go func() {
		server := fmt.Sprintf("https://127.0.0.1:%d", *port)
		if err := waitReady(ctx, server, caPEM, *adminToken, *readyTimeout); err != nil {
			if ctx.Err() == nil {
				fmt.Fprintf(os.Stderr, "kube-test-server: %v\n", err)
				stopEtcd()
				os.Exit(1)
			}
			return
		}
		writeKubeconfig(*kubeconfigPath, server, caPEM, *adminToken)
		info, _ := json.Marshal(map[string]string{"server": server, "kubeconfig": *kubeconfigPath, "caFile": caFile})
		fmt.Printf("READY %s\n", info)
	}()

	code := cli.Run(cmd) // returns after a graceful shutdown once ctx is cancelled
	stopEtcd()
	os.Exit(code)
}

func startEtcd(dir string) (*embed.Etcd, string) {
	clientPort, peerPort := freePort(), freePort()
	cfg := embed.NewConfig()
	cfg.Name = "kube-test-server"
	cfg.Dir = dir
	cfg.LogLevel = "error"
	cfg.UnsafeNoFsync = true // test data only
	clientURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", clientPort)}
	peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", peerPort)}
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.ListenMetricsUrls = nil
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	check(err, "start etcd")
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		fatalf("etcd: %v", err)
	case <-time.After(60 * time.Second):
		e.Close()
		fatalf("etcd not ready after 60s")
	}
	return e, clientURL.String()
}

func waitReady(ctx context.Context, server string, caPEM []byte, token string, timeout time.Duration) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("/readyz not OK after %s: %s", timeout, last)
}

func writeKubeconfig(path, server string, caPEM []byte, token string) {
	ca := base64.StdEncoding.EncodeToString(caPEM)
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: kube-test-server
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: admin@kube-test-server
  context:
    cluster: kube-test-server
    user: admin
    namespace: default
current-context: admin@kube-test-server
`, server, ca, token)
	check(os.MkdirAll(filepath.Dir(path), 0o755), "kubeconfig dir")
	tmp := path + ".tmp"
	check(os.WriteFile(tmp, []byte(cfg), 0o600), "kubeconfig")
	check(os.Rename(tmp, path), "kubeconfig")
}

// writeServingCerts makes a CA and a serving certificate for 127.0.0.1/localhost.
func writeServingCerts(dir string) (caPEM []byte, certFile, keyFile string) {
	caKey := mustECKey()
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "kube-test-server-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour * 365),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	check(err, "CA cert")
	caCert, err := x509.ParseCertificate(caDER)
	check(err, "CA cert")
	caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	check(os.WriteFile(filepath.Join(dir, "ca.crt"), caPEM, 0o644), "ca.crt")

	key := mustECKey()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour * 365),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	check(err, "serving cert")
	certFile = filepath.Join(dir, "apiserver.crt")
	keyFile = filepath.Join(dir, "apiserver.key")
	check(os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644), "serving cert")
	writeECKey(keyFile, key)
	return caPEM, certFile, keyFile
}

func mustECKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err, "key")
	return k
}

func writeECKey(path string, k *ecdsa.PrivateKey) {
	der, err := x509.MarshalECPrivateKey(k)
	check(err, "key")
	check(os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600), "key")
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	check(err, "serial")
	return n
}

func randomToken() string {
	b := make([]byte, 24)
	_, err := rand.Read(b)
	check(err, "token")
	return hex.EncodeToString(b)
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err, "free port")
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func check(err error, what string) {
	if err != nil {
		fatalf("%s: %v", what, err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kube-test-server: "+strings.TrimSuffix(format, "\n")+"\n", args...)
	os.Exit(1)
}
