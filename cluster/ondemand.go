package cluster

import (
	"context"
	"fmt"
	"os"
)

// Listener returns the listening socket the primary shares for network
// ("" is "tcp") and address: one of Config.Listen, or one opened earlier,
// matched by address as written there or as bound; under PolicyShared an
// address not open yet is opened now and shared from then on (workers
// started later inherit it too, as with Worker.Listen). It is how a
// supervisor hands a program's request for a port to the cluster (herd
// run's Node shim asks for the host and port the app gave listen).
//
// The file is the primary's own copy: do not close it. It stays open until
// Run returns; pass it on (ipc's SendHandle duplicates it) and forget it. It
// returns ErrNotRunning when Run is not running, ErrStopping once the cluster
// stops, a wrapped ErrNoListener for a new address under another policy, or
// a *ListenError when the address cannot be opened.
func (c *Cluster) Listener(network, address string) (*os.File, error) {
	if network == "" {
		network = "tcp"
	}
	var (
		s   *shared
		err error
	)
	if derr := c.do(func() { s, err = c.sharedFor(network, address) }); derr != nil {
		return nil, derr
	}
	if err != nil {
		return nil, err
	}
	if s.file == nil {
		return nil, fmt.Errorf("%w: %s %s has no shared socket under %s", ErrNoListener, network, address, c.cfg.Policy)
	}
	return s.file, nil
}

// sharedFor finds the shared listener for network and address, or opens it
// on demand under PolicyShared. On the loop.
func (c *Cluster) sharedFor(network, address string) (*shared, error) {
	for _, s := range c.lns {
		if s.network == network && (s.address == address || s.addr.String() == address) {
			return s, nil
		}
	}
	switch {
	case c.cfg.Policy != PolicyShared:
		return nil, fmt.Errorf("%w: %s %s is not in Config.Listen (on-demand listeners need PolicyShared)", ErrNoListener, network, address)
	case c.stopping:
		return nil, ErrStopping
	}
	s, err := openShared(context.Background(), PolicyShared, Addr{Network: network, Address: address})
	if err != nil {
		return nil, err
	}
	c.addShared(s)
	return s, nil
}
