import matplotlib
import numpy as np

from mnist_cnn.plots import plot_digits

matplotlib.use("Agg")


def test_a_digit_grid_titles_each_answer_and_its_digit_in_red_only_where_they_differ():
    images = np.zeros((3, 28, 28, 1), np.float32)
    figure = plot_digits(images, np.array([3, 7, 1]), np.array([3, 5, 1]), columns=3, title="answer (digit)")
    titles = [axis.title for axis in figure.axes]
    assert [title.get_text() for title in titles] == ["3 (3)", "5 (7)", "1 (1)"]
    assert [matplotlib.colors.to_hex(title.get_color()) for title in titles] == ["#000000", "#d62728", "#000000"]
