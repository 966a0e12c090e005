// Package web is the HTTP plumbing shared by the director's APIs: JSON
// answers and the authentication of requests (PSK-signed subscriber
// requests with replay protection, the admin bearer token) with its
// refusal metric.
package web
