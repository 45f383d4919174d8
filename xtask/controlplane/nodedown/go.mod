// Undoes what the local node changed on the host (standard library only).
module nbv.local/controlplane/nodedown

go 1.24.0
