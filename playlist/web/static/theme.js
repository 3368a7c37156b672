// The colours the canvas draws with, read from style.css's variables (light or dark, as the
// system says); `onThemeChange` hears the system switching.

export const theme = {};

export function readTheme() {
  const css = getComputedStyle(document.documentElement);
  const v = (name) => css.getPropertyValue(name).trim();
  Object.assign(theme, {
    background: v("--map-bg"), ink: v("--ink"), muted: v("--muted"),
    playlist: v("--playlist"), added: v("--added"), target: v("--target"), path: v("--path"),
    pointLightness: v("--point-lightness"), pointAlpha: v("--point-alpha"),
  });
  return theme;
}

export function onThemeChange(callback) {
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => { readTheme(); callback(); });
}
