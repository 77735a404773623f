"""The measured figures: throughput, latency, accuracy, frame rate, memory, peers.

``mirrorscope bench`` runs them; each module measures one thing and returns ``Result`` records.
Speed and memory goals live here, never in timed tests.
"""
