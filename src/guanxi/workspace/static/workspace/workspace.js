// Behaviour of the shell, from a file: the Content-Security-Policy allows no inline script or handler.
document.addEventListener("change", (event) => {
  const field = event.target;
  if (field instanceof HTMLElement && field.matches("[data-submit-on-change]") && field.form) {
    field.form.requestSubmit();
  }
});
