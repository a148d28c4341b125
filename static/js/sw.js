// codexhub service worker: makes the app installable. Web Push arrives with
// the notifications issue; pages are always fetched from the network.
"use strict";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("fetch", () => {});
