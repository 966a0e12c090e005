// Package broker is the director's session broker: it mirrors the
// appliance's session flow, giving each party of a support session a home
// relay and a TURN credential and following them when a node leaves, and
// reports the clients connected to the relays.
package broker
