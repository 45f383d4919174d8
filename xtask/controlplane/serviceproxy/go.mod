// Plays kube-proxy for the kubernetes Service on the node (standard library only).
module nbv.local/controlplane/serviceproxy

go 1.24.0
