//! Hands the objects a cache has just taken in to other controllers.
//!
//! The notebook-image and suite controllers read jobs and pods from the job controller's caches.
//! Woken by watches of their own, they could run ahead of those caches: a reconcile would read a
//! job as still running after the change that woke it, and wait for a change that never comes.
//! Woken by these hand-offs instead, they always find in the cache what woke them.

use std::sync::{Arc, Mutex, PoisonError};

use futures::channel::mpsc;
use kube::ResourceExt;
use kube::runtime::watcher;

/// The subscribers to the changes of one cache, each to the objects carrying a given label.
pub(crate) struct Fanout<K>(Arc<Mutex<State<K>>>);

struct State<K> {
    subscribers: Vec<(&'static str, mpsc::UnboundedSender<Arc<K>>)>,
    /// The objects of a re-list in progress: the cache takes them in all at once when it ends.
    relisted: Vec<Arc<K>>,
}

impl<K> Clone for Fanout<K> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<K> Default for Fanout<K> {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(State {
            subscribers: Vec::new(),
            relisted: Vec::new(),
        })))
    }
}

impl<K: kube::Resource + Clone> Fanout<K> {
    /// The objects labelled `label` (any value), as the cache takes them in.
    pub(crate) fn subscribe(&self, label: &'static str) -> mpsc::UnboundedReceiver<Arc<K>> {
        let (sender, receiver) = mpsc::unbounded();
        self.lock().subscribers.push((label, sender));
        receiver
    }

    /// Passes on the object of `event`, which the cache has just applied: at once for a change or
    /// a deletion, at the end of a re-list for the objects it listed.
    pub(crate) fn pass_on(&self, event: &watcher::Event<K>) {
        let mut state = self.lock();
        if state.subscribers.is_empty() {
            return;
        }
        match event {
            watcher::Event::Apply(object) | watcher::Event::Delete(object) => {
                if state.wanted(object) {
                    state.send(&Arc::new(object.clone()));
                }
            }
            watcher::Event::Init => state.relisted.clear(),
            watcher::Event::InitApply(object) => {
                if state.wanted(object) {
                    state.relisted.push(Arc::new(object.clone()));
                }
            }
            watcher::Event::InitDone => {
                for object in std::mem::take(&mut state.relisted) {
                    state.send(&object);
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<K>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K: kube::Resource> State<K> {
    fn wanted(&self, object: &K) -> bool {
        self.subscribers
            .iter()
            .any(|(label, _)| object.labels().contains_key(*label))
    }

    /// Sends `object` to the subscribers of its labels, forgetting those no longer listening.
    fn send(&mut self, object: &Arc<K>) {
        self.subscribers.retain(|(label, sender)| {
            !object.labels().contains_key(*label) || sender.unbounded_send(object.clone()).is_ok()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use k8s_openapi::api::core::v1::Pod;

    fn pod(name: &str, label: &str) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = Some(name.to_owned());
        pod.metadata.labels = Some([(label.to_owned(), "x".to_owned())].into());
        pod
    }

    fn names(receiver: &mut mpsc::UnboundedReceiver<Arc<Pod>>) -> Vec<String> {
        let mut names = Vec::new();
        while let Ok(pod) = receiver.try_recv() {
            names.push(pod.name_any());
        }
        names
    }

    #[test]
    fn each_subscriber_gets_the_changes_of_its_label_and_a_relist_only_once_it_ends() {
        let fanout = Fanout::default();
        let mut images = fanout.subscribe("image");
        let mut suites = fanout.subscribe("suite");
        fanout.pass_on(&watcher::Event::Apply(pod("a", "image")));
        fanout.pass_on(&watcher::Event::Delete(pod("b", "suite")));
        fanout.pass_on(&watcher::Event::Apply(pod("c", "other")));
        fanout.pass_on(&watcher::Event::Init);
        fanout.pass_on(&watcher::Event::InitApply(pod("d", "image")));
        assert_eq!(
            names(&mut images),
            ["a"],
            "a re-list passed on before it ended"
        );
        fanout.pass_on(&watcher::Event::InitDone);
        assert_eq!(names(&mut images), ["d"]);
        assert_eq!(names(&mut suites), ["b"]);
    }

    #[tokio::test]
    async fn a_subscriber_that_stopped_listening_is_forgotten() {
        let fanout = Fanout::default();
        drop(fanout.subscribe("image"));
        let mut listening = fanout.subscribe("image");
        fanout.pass_on(&watcher::Event::Apply(pod("a", "image")));
        assert_eq!(fanout.lock().subscribers.len(), 1);
        assert_eq!(
            listening.next().await.map(|p| p.name_any()),
            Some("a".to_owned())
        );
    }
}
