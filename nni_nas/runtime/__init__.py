"""The trial runtime: the trial nnictl runs (:mod:`.trial`), its files (:mod:`.trial_files`), why NNI stopped it
(:mod:`.trial_stop`), the warm worker that keeps torch imported between trials (:mod:`.worker`,
:mod:`.worker_client`), and one-shot supernets on several processes (:mod:`.distributed`, :mod:`.ranks`)."""
