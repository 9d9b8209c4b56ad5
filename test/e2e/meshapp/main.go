// Command meshapp is the e2e suite's stand-in for an application and its
// sidecar, one static binary so the test image needs nothing else:
//
//	meshapp sidecar               listen on 15001 and 15003 (run it as uid 1500);
//	                              with LOCAL_DNS_PROXY=true, also serve DNS on
//	                              udp 127.0.0.153:5300 as osm-edge's Pipy does
//	meshapp serve PORT...         an application listening on these ports;
//	                              with MESHAPP_START_PROBE=HOST:PORT it first
//	                              records whether its dial there is redirected
//	                              (startcheck.go)
//	meshapp dial HOST:PORT        connect, print the one line the peer says
//	meshapp resolve NAME          look NAME up as /etc/resolv.conf says, print
//	                              its IPv4 addresses
//
// Every listener answers a connection with one line saying who answered and,
// for the sidecar, the original destination the kernel recorded before the
// redirect (SO_ORIGINAL_DST): "sidecar-outbound 10.244.0.9:8080 web-1" or
// "app 8080 web-2". The suite reads where each connection landed from that line.
// The DNS stand-in knows one name, mesh.test, at 192.0.2.53.
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: meshapp sidecar | serve PORT... | dial HOST:PORT | resolve NAME")
		os.Exit(2)
	}
	name, _ := os.Hostname()
	var err error
	switch os.Args[1] {
	case "sidecar":
		err = sidecar(name)
	case "serve":
		if err = startCheck(name); err != nil {
			break
		}
		roles := map[string]string{}
		for _, p := range os.Args[2:] {
			roles[p] = "app"
		}
		err = serve(name, roles)
	case "dial":
		err = dial(os.Args[2:])
	case "resolve":
		err = resolve(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "meshapp:", err)
		os.Exit(1)
	}
}

// sidecar serves the proxy's listeners and, as osm-edge's injector asks
// with LOCAL_DNS_PROXY=true, the DNS stand-in; the first to fail ends it.
func sidecar(name string) error {
	errs := make(chan error, 2)
	go func() {
		errs <- serve(name, map[string]string{"15001": "sidecar-outbound", "15003": "sidecar-inbound"})
	}()
	if os.Getenv("LOCAL_DNS_PROXY") == "true" {
		go func() { errs <- serveDNS() }()
	}
	return <-errs
}

// serve listens on every port and answers each connection with its role,
// the address the client meant to reach, and the pod's name.
func serve(name string, roles map[string]string) error {
	errs := make(chan error, len(roles))
	for port, role := range roles {
		l, err := net.Listen("tcp", ":"+port)
		if err != nil {
			return err
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					errs <- err
					return
				}
				go answer(c.(*net.TCPConn), role, port, name)
			}
		}()
	}
	return <-errs
}

func answer(c *net.TCPConn, role, port, name string) {
	defer c.Close()
	dst := port
	if strings.HasPrefix(role, "sidecar") {
		if orig, err := originalDst(c); err == nil {
			dst = orig
		} else {
			dst = "unknown(" + err.Error() + ")"
		}
	}
	fmt.Fprintf(c, "%s %s %s\n", role, dst, name)
}

func dial(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("dial takes HOST:PORT")
	}
	c, err := net.DialTimeout("tcp", args[0], 3*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading from %s: %w", args[0], err)
	}
	fmt.Print(line)
	return nil
}
