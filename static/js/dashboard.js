// Draws the stored plotly figures; the toolbar downloads each as PNG or SVG.
(() => {
  const source = document.getElementById("figure-data");
  if (!source || !window.Plotly) return;
  const figures = JSON.parse(source.textContent);
  document.querySelectorAll(".plot[data-figure]").forEach((element) => {
    const figure = figures[element.dataset.figure];
    if (!figure) return;
    const filename = element.dataset.filename;
    const svgButton = {
      name: "Download SVG",
      icon: Plotly.Icons.disk,
      click: (gd) => Plotly.downloadImage(gd, { format: "svg", filename }),
    };
    Plotly.newPlot(element, figure.data, figure.layout, {
      responsive: true,
      displaylogo: false,
      toImageButtonOptions: { format: "png", filename, scale: 2 },
      modeBarButtonsToAdd: [svgButton],
    });
  });
})();
