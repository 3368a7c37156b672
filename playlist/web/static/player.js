// Listening: the page's audio element plays a track by id; playing follows the playlist
// (the next track starts when one ends; next / previous step through it).

export function createPlayer(audio, playlist, onChange, onError) {
  const current = () => (audio.dataset.track ? Number(audio.dataset.track) : null);

  function play(id) {
    audio.src = `/audio/${id}`;
    audio.dataset.track = id;
    audio.play().catch((e) => onError(e));
    onChange();
  }

  function step(by) {
    const list = playlist();
    if (!list.length) return;
    const at = list.indexOf(current());
    const next = at < 0 ? 0 : at + by;
    if (next >= 0 && next < list.length) play(list[next]);
  }

  function toggle() {
    if (current() === null) step(1);
    else if (audio.paused) audio.play().catch((e) => onError(e));
    else audio.pause();
  }

  audio.addEventListener("ended", () => step(1));
  audio.addEventListener("play", onChange);
  audio.addEventListener("pause", onChange);
  return { play, toggle, next: () => step(1), previous: () => step(-1), current };
}
