// Command nbv-node-serve serves what pods on the local node need from "outside", since nothing
// outside the machine is reachable from them:
//
//   - /git/<repo>: git repositories under --git-root over git's smart HTTP protocol (through
//     git http-backend, as a CGI program), so clones can fetch any branch, tag or commit with
//     --depth 1. Repositories under private/ require HTTP basic authentication with --user and
//     the password in --password-file.
//   - /files/: the files under --files-root (a wheel directory for pip's --find-links, say).
//
// It listens on --listen (the node's gateway address), over HTTPS with --tls-cert and --tls-key,
// and stops on SIGTERM or SIGINT.
package main

import (
	"context"
	"crypto/subtle"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "", "address to listen on, host:port")
	gitRoot := flag.String("git-root", "", "directory of bare repositories served under /git/")
	filesRoot := flag.String("files-root", "", "directory served under /files/")
	user := flag.String("user", "", "user name for repositories under private/")
	passwordFile := flag.String("password-file", "", "file holding the password for repositories under private/")
	tlsCert := flag.String("tls-cert", "", "serving certificate (PEM); HTTPS when given")
	tlsKey := flag.String("tls-key", "", "its key (PEM)")
	flag.Parse()
	if *listen == "" || *gitRoot == "" {
		fmt.Fprintln(os.Stderr, "usage: nbv-node-serve --listen host:port --git-root DIR [--files-root DIR] [--user U --password-file F]")
		os.Exit(2)
	}
	backend, err := exec.LookPath("git")
	if err != nil {
		fmt.Fprintln(os.Stderr, "nbv-node-serve: git not found:", err)
		os.Exit(1)
	}
	password := ""
	if *passwordFile != "" {
		data, err := os.ReadFile(*passwordFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "nbv-node-serve:", err)
			os.Exit(1)
		}
		password = strings.TrimRight(string(data), "\n")
	}

	git := &cgi.Handler{
		Path: backend,
		Args: []string{"http-backend"},
		Env: []string{
			"GIT_PROJECT_ROOT=" + *gitRoot,
			"GIT_HTTP_EXPORT_ALL=1",
			// Shallow fetches of any commit, as the validation pod's clone asks for.
			"GIT_CONFIG_COUNT=2",
			"GIT_CONFIG_KEY_0=uploadpack.allowAnySHA1InWant",
			"GIT_CONFIG_VALUE_0=true",
			"GIT_CONFIG_KEY_1=uploadpack.allowFilter",
			"GIT_CONFIG_VALUE_1=true",
		},
	}
	mux := http.NewServeMux()
	mux.Handle("/git/", http.StripPrefix("/git", authorize(git, *user, password)))
	if *filesRoot != "" {
		mux.Handle("/files/", http.StripPrefix("/files/", http.FileServer(http.Dir(*filesRoot))))
	}
	server := &http.Server{Handler: logged(mux), ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nbv-node-serve:", err)
		os.Exit(1)
	}
	scheme := "http"
	if *tlsCert != "" {
		scheme = "https"
	}
	fmt.Printf("serving on %s://%s\n", scheme, ln.Addr())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(ctx)
	}()
	if scheme == "https" {
		err = server.ServeTLS(ln, *tlsCert, *tlsKey)
	} else {
		err = server.Serve(ln)
	}
	if err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "nbv-node-serve:", err)
		os.Exit(1)
	}
}

// authorize requires basic authentication for paths under /private/.
func authorize(next http.Handler, user, password string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/private/") {
			u, p, ok := r.BasicAuth()
			if !ok || user == "" ||
				subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 ||
				subtle.ConstantTimeCompare([]byte(p), []byte(password)) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="nbv"`)
				http.Error(w, "authentication required", http.StatusUnauthorized)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("%s %s %s\n", r.RemoteAddr, r.Method, r.URL.Path)
		next.ServeHTTP(w, r)
	})
}
