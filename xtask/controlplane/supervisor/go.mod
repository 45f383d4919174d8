// The process supervisor the test control plane runs its servers under (standard library only).
module nbv.local/controlplane/supervisor

go 1.24.0
