// Command nbv-service-proxy plays kube-proxy for the one Service pods on the local node use: the
// `kubernetes` Service. It listens on the Service's cluster IP (an address the node puts on its
// pod bridge) and forwards each TCP connection to the API server on loopback, unchanged: TLS is
// end to end, between the pod and the API server, whose certificate names the cluster IP.
//
// It stops on SIGTERM or SIGINT.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "", "address to listen on, host:port (the Service's cluster IP and port)")
	target := flag.String("target", "", "address to forward to, host:port (the API server)")
	flag.Parse()
	if *listen == "" || *target == "" {
		fmt.Fprintln(os.Stderr, "usage: nbv-service-proxy --listen host:port --target host:port")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nbv-service-proxy:", err)
		os.Exit(1)
	}
	fmt.Printf("forwarding %s to %s\n", ln.Addr(), *target)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		_ = ln.Close()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			// Closed by a signal: the normal way out.
			return
		}
		go forward(conn, *target)
	}
}

// forward copies both ways until either side closes.
func forward(client net.Conn, target string) {
	defer client.Close()
	server, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nbv-service-proxy:", err)
		return
	}
	defer server.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Half-close, so the other direction can finish what it sends.
		if tcp, ok := dst.(*net.TCPConn); ok {
			_ = tcp.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
	<-done
}
